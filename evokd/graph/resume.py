"""What a resumed run takes from the command that resumes it.

The stored config.json says what the run is; a flag given with ``--resume`` (or a rerun of
``--seeds``) either applies or is refused by name, never ignored. Flags that change how the
teacher is reached, paced and paid for, where the student runs and how many rounds the run
has apply; flags that shape the samples or the student (seed, k-shot, student, strategy,
ablations, ...) are refused, since half a run made one way and half another is no run at all.
The run works in the folder it is resumed from, wherever it was first written.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evokd.core.errors import UserError
from evokd.graph.config import RunConfig

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# settings a resumed run takes from the command line
RESUMABLE = frozenset({
    "teacher", "base_url", "model", "local_model", "max_concurrency", "timeout",
    "budget_tokens", "price_in", "price_out", "rpm", "tpm", "cache", "rounds", "device",
})
# compared by what they resolve to, not by the words given
_NOT_COMPARED = frozenset({"run_dir", "task", "task_spec", "roles"})


def _flag(name: str, value: Any) -> str:
    """The flag that sets ``name`` to ``value`` (a switch by the way it was turned)."""
    kebab = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{kebab}" if value else f"--no-{kebab}"
    return f"--{kebab}"


def resumed_config(stored: RunConfig, changes: Mapping[str, Any], run_dir: Path,
                   switches: Mapping[str, bool] | None = None) -> RunConfig:
    """``stored`` with the resumable ``changes`` applied and ``run_dir`` as its folder.

    ``changes``: settings given now (field name -> value); ``switches``: optional roles
    given now (name -> on). Raises a UserError naming every flag that would change a setting
    a run cannot change midway."""
    refused = [_flag(name, value) for name, value in changes.items()
               if name not in RESUMABLE and name not in _NOT_COMPARED
               and getattr(stored, name, value) != value]
    refused += [_flag(name, bool(on)) for name, on in (switches or {}).items()
                if stored.role_on(name) != bool(on)]
    if refused:
        raise UserError(
            f"{', '.join(refused)} cannot change when a run resumes (the run in {run_dir} was "
            "made with other values, see its config.json); resume without "
            f"{'it' if len(refused) == 1 else 'them'}, or start a new run with another "
            "--run-dir")
    applied = {name: value for name, value in changes.items() if name in RESUMABLE}
    return dataclasses.replace(stored, **applied, run_dir=str(run_dir))


def resumed_endpoint(config: RunConfig, flags: Mapping[str, Any],
                     environ: Mapping[str, str] = os.environ) -> tuple[RunConfig, str]:
    """The teacher a resumed run talks to, and a notice for stderr ("" for none).

    The endpoint named now (``--base-url``, else ``$OPENAI_BASE_URL``) wins; ``--teacher
    local`` switches to the embedded teacher. When none is named, the stored endpoint is used
    and the notice says so, since the API key from the environment goes there."""
    named = flags.get("base_url") or environ.get("OPENAI_BASE_URL") or ""
    if flags.get("teacher") == "local":
        return dataclasses.replace(config, teacher="local", base_url=""), ""
    if named or flags.get("teacher") == "openai":
        base_url = named or (config.base_url if config.teacher == "openai" else OPENAI_URL)
        model = config.model if config.teacher == "openai" else ""
        return dataclasses.replace(config, teacher="openai", base_url=base_url,
                                   model=flags.get("model") or model or DEFAULT_OPENAI_MODEL), ""
    if config.teacher != "openai" or config.rounds == 0 or not environ.get("OPENAI_API_KEY"):
        return config, ""
    return config, (f"resuming with the endpoint stored in {Path(config.run_dir) / 'config.json'}"
                    f": {config.base_url}; OPENAI_API_KEY is sent there (give --base-url URL or "
                    "set OPENAI_BASE_URL to use another)")
