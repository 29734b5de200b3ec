"""Settings of the teacher client (one OpenAI-compatible endpoint)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

StructuredMethod = Literal["json_schema", "function_calling", "json_object"]
STRUCTURED_METHODS: tuple[StructuredMethod, ...] = (
    "json_schema",
    "function_calling",
    "json_object",
)


@dataclass(frozen=True)
class TeacherSettings:
    """How to reach and drive the teacher LLM.

    ``api_key`` is excluded from ``repr`` and from ``public_dict`` so it never reaches
    config.json, logs or traces.
    """

    base_url: str
    model: str
    api_key: str = field(repr=False)
    max_concurrency: int = 8
    structured_method: StructuredMethod = "json_object"
    temperature: float = 0.8
    max_tokens: int = 512
    timeout_s: float = 60.0
    http_retries: int = 3
    validation_retries: int = 2
    seed: int | None = None
    budget_tokens: int | None = None
    rpm: int | None = None  # requests per window (a minute), shared by all roles
    tpm: int | None = None  # tokens (prompt + max_tokens) per window
    rate_window_s: float = 60.0
    max_pause_s: float = 300.0  # the longest wait a rate-limit reset header can ask for
    endpoint: str = ""  # names the endpoint in cache keys (default: base_url)

    @property
    def endpoint_name(self) -> str:
        """What identifies the endpoint in the response cache: ``endpoint``, else
        ``base_url`` (replies of one server are never served for another)."""
        return self.endpoint or self.base_url

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.structured_method not in STRUCTURED_METHODS:
            raise ValueError(
                f"structured_method must be one of {', '.join(STRUCTURED_METHODS)}, "
                f"got {self.structured_method!r}"
            )
        if self.http_retries < 0 or self.validation_retries < 0:
            raise ValueError("http_retries and validation_retries must be >= 0")
        if self.max_tokens < 1 or self.timeout_s <= 0:
            raise ValueError("max_tokens must be >= 1 and timeout_s > 0")
        if any(v is not None and v < 1 for v in (self.rpm, self.tpm)) or self.rate_window_s <= 0:
            raise ValueError("rpm and tpm must be >= 1 and rate_window_s > 0")
        if not self.max_pause_s > 0:
            raise ValueError(f"max_pause_s must be > 0, got {self.max_pause_s}")
        if self.budget_tokens is not None and self.budget_tokens < 0:
            raise ValueError(f"budget_tokens must be >= 0, got {self.budget_tokens}")

    def public_dict(self) -> dict[str, Any]:
        """Every setting except ``api_key`` (safe for config.json)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "api_key"
        }
