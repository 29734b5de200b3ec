"""Talking to the teacher LLM: an OpenAI-compatible client with bounded concurrency,
validate-and-retry structured output, a shared response cache and token accounting."""

from teacher.cache import (
    CachedReply,
    ResponseCache,
    cache_key,
    default_cache_dir,
    default_cache_path,
)
from teacher.client import TeacherClient
from teacher.errors import BudgetExhausted, LLMReplyError, TeacherError, TeacherUnavailable
from teacher.events import Emit
from teacher.jsonfix import extract_json
from teacher.ledger import TokenLedger, Usage
from teacher.settings import STRUCTURED_METHODS, StructuredMethod, TeacherSettings

__all__ = [
    "STRUCTURED_METHODS",
    "BudgetExhausted",
    "CachedReply",
    "Emit",
    "LLMReplyError",
    "ResponseCache",
    "StructuredMethod",
    "TeacherClient",
    "TeacherError",
    "TeacherSettings",
    "TeacherUnavailable",
    "TokenLedger",
    "Usage",
    "cache_key",
    "default_cache_dir",
    "default_cache_path",
    "extract_json",
]
