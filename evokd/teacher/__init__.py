"""Talking to the teacher LLM: an OpenAI-compatible client with bounded concurrency,
validate-and-retry structured output, a shared response cache and token accounting."""

from evokd.teacher.cache import (
    CachedReply,
    ResponseCache,
    cache_key,
    default_cache_dir,
    default_cache_path,
)
from evokd.teacher.client import TeacherClient
from evokd.teacher.errors import BudgetExhausted, LLMReplyError, TeacherError, TeacherUnavailable
from evokd.teacher.events import Emit
from evokd.teacher.jsonfix import extract_json
from evokd.teacher.ledger import TokenLedger, Usage
from evokd.teacher.settings import STRUCTURED_METHODS, StructuredMethod, TeacherSettings

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
