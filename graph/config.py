"""RunConfig: everything a run needs to know, built from the CLI and saved as config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from student import DEFAULT_STUDENT
from student.hardware import DEFAULT_MAX_LENGTH, Hardware, resolve_hardware
from tasks.errors import UserError
from tasks.spec import TaskSpec


@dataclass(frozen=True)
class RunConfig:
    """One run of the loop. No secrets: the API key stays in the environment."""

    task: str  # the task's name
    run_dir: str
    data_dir: str
    task_spec: dict[str, Any] | None = None  # the resolved task (TaskSpec.to_dict)
    k_shot: int | None = 1  # None = the full train split
    rounds: int = 3
    samples_per_round: int = 16
    seed: int = 1
    student: str = DEFAULT_STUDENT
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    max_length: int | None = None  # student sub-words per text; None: the task's or kind's
    # teacher
    teacher: Literal["openai", "local"] = "openai"
    model: str = ""
    base_url: str = ""
    local_model: str = ""
    max_concurrency: int = 8
    timeout_s: float = 60.0  # seconds one LLM request may take before the SDK retries it
    budget_tokens: int | None = None
    price_in: float | None = None  # currency per million prompt tokens (cost reporting)
    price_out: float | None = None  # currency per million completion tokens
    rpm: int | None = None  # requests per minute, all roles together
    tpm: int | None = None  # tokens per minute (prompt + max_tokens), all roles together
    structured_method: Literal["json_schema", "function_calling", "json_object"] = "json_object"
    use_cache: bool = True
    temperature: float = 0.8  # the generator's (and analyst's) sampling temperature
    judge_temperature: float = 0.0  # labeler and critic: greedy, so labels are the most likely
    # loop
    texts_per_call: int = 4
    patience: int = 2
    replay: int = 64
    llm_critic: bool = True
    critic_batch: int = 8  # samples judged in one critic call
    reviewer: bool = False  # a reviewer memo replaces the raw history
    # student training
    seed_steps: int = 300
    round_steps: int = 150  # incremental schedule only
    schedule: Literal["retrain", "incremental"] = "retrain"  # how each round trains (README)
    batch_size: int = 16
    learning_rate: float = 5e-5
    # strategy and ablations (each switch removes one part of EvoKD; see README "Strategies")
    strategy: Literal["evokd", "static", "none"] = "evokd"
    easy: bool = True  # False (--no-easy): hard samples only
    correct_samples: bool = True  # False (--no-correct): the analyst sees no correct samples
    history: bool = True  # False (--no-history): no review history in prompts
    separate_labeling: bool = True  # False: the generator labels its own texts in one call
    critic: bool = True  # False (--no-critic): only the leakage check (it always runs)

    @property
    def spec(self) -> TaskSpec:
        """The run's task (stored whole, so a run needs no task file to resume or report)."""
        if self.task_spec is not None:
            return TaskSpec.from_dict(self.task_spec)
        from tasks.registry import resolve_task  # a run directory from before task files

        return resolve_task(self.task, Path(self.data_dir))

    def hardware(self) -> Hardware:
        """Device, precision and max length resolved for this machine (UserError if it
        cannot give them)."""
        spec = self.spec
        length = self.max_length or spec.max_length or DEFAULT_MAX_LENGTH[spec.kind]
        return resolve_hardware(self.device, self.precision, length)

    @property
    def keeps_history(self) -> bool:
        """Whether rounds are remembered and shown to the LLM (evokd without --no-history)."""
        return self.history and self.strategy == "evokd"

    def to_json(self) -> str:
        """The config as JSON text (for config.json)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> RunConfig:
        """Read a config.json written by :meth:`to_json`."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in raw.items() if k in known})
        except FileNotFoundError:
            raise UserError(f"{path.parent} is not a run directory (no config.json); --resume "
                            "takes the --run-dir of an earlier run") from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise UserError(f"{path}: unreadable run config ({exc}); this run cannot be resumed, "
                            "start a new one with another --run-dir") from None
