"""The embedded offline teacher: a local GGUF model behind an OpenAI-compatible server.

Importing this package is cheap (no torch); the model is loaded in the server subprocess.
"""

from evokd.teacher.local.cli import serve_main
from evokd.teacher.local.launcher import LocalTeacher, LocalTeacherError
from evokd.teacher.local.models import (
    DEFAULT_MODEL,
    MODELS,
    ModelError,
    ModelNotInstalledError,
    ResolvedModel,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "LocalTeacher",
    "LocalTeacherError",
    "ModelError",
    "ModelNotInstalledError",
    "ResolvedModel",
    "resolve_model",
    "serve_main",
]
