"""RunConfig: every setting of a run, declared once (name, type, default, help); the flags,
config.json, the Python API and the README's flag table are made from these fields
(evokd/core/settings.py). ``LOCAL_PRESET`` is what changes when the embedded teacher is used."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evokd.agents.registry import optional_roles
from evokd.core.cli import (
    int_at_least,
    k_shot,
    non_negative,
    non_negative_float,
    positive,
    quote_count,
    seconds,
    seed_list,
)
from evokd.core.errors import UserError
from evokd.core.rundir import RunDir, config_text
from evokd.core.settings import flag_table, setting
from evokd.graph.strategy import SOURCES, STRATEGIES, plan, text_source
from evokd.stop_reasons import BUDGET_SPENT
from evokd.student import DEFAULT_STUDENT
from evokd.student.hardware import DEFAULT_MAX_LENGTH, Hardware, resolve_hardware
from evokd.tasks.registry import builtin_names
from evokd.tasks.spec import TaskSpec

# The embedded teacher is a small model on the CPU: it decodes up to 8 requests together (the
# default 8 in flight keep it busy), follows a short one-text request far better than the
# full prompt (compact prompts, one text per generator call), and its verdicts
# carry no signal (it passed every sample of a test set with wrong types, BENCHMARKS.md), so the
# critic applies its rules only; json_schema lets it repair replies against the schema. It
# does not ask again after an unusable reply: greedy and shown its error, it repeated the error
# in every retry of two default runs (0 of 8 retries usable, ~150 s of decoding; BENCHMARKS.md).
LOCAL_PRESET: dict[str, Any] = {
    "rounds": 2, "samples_per_round": 28, "timeout": 900.0,
    "structured_method": "json_schema", "llm_critic": False, "texts_per_call": 1,
    "prompts": "compact", "reply_retries": 0, "max_concurrency": 16,  # = the engine's max_batch
}
# --quote-errors auto on a tagging task: +3.1 test F1 [+1.8, +4.4] over quoting nothing, ten
# paired CoNLL-2003 seeds (BENCHMARKS.md "Quoted mistakes"); classification stays at 0
AUTO_QUOTES = 4
# a config.json key that names a setting by its earlier name -> the setting's name; read on load
_RENAMED = {"seed_steps": "train_steps", "timeout_s": "timeout",
            "correct_samples": "correct", "use_cache": "cache"}


@dataclass(frozen=True)
class RunConfig:
    """One run of the loop. No secrets: the API key stays in the environment."""

    task: str = setting(
        "", "a built-in task (" + ", ".join(f"`{n}`" for n in builtin_names())
        + ") or a task file (see \"Your own task\")", metavar="NAME|FILE",
        shown_default="required")
    k_shot: int | None = setting(
        1, "seed examples per label (`all` = the full train split, the full-shot reference)",
        parse=k_shot, metavar="K|all")
    rounds: int = setting(3, "loop rounds; 0 = the seed student only (no LLM)",
                          parse=non_negative, metavar="N")
    samples_per_round: int = setting(16, "texts generated per round, half easy, half hard",
                                     parse=positive, metavar="N")
    seed: int = setting(
        1, "seeds the k-shot draw, training and the LLM `seed` (each generator call samples "
        "with its own seed derived from it)", parse=non_negative, metavar="N")
    student: str = setting(
        DEFAULT_STUDENT, "student backbone: HF id or local path (any BERT, RoBERTa, "
        "DeBERTa-v2/v3, DistilBERT or XLM-R encoder; see \"Hardware\")",
        metavar="NAME_OR_PATH", shown_default="all-MiniLM-L6-v2")
    device: str = setting(
        "auto", "where the student trains, predicts and scores (auto: a CUDA GPU, then Apple "
        "MPS, then the CPU); the embedded teacher follows it onto a CUDA GPU",
        metavar="auto|cpu|cuda|cuda:N|mps")
    precision: str = setting(
        "auto", "auto: bf16 on a CUDA GPU that has it, else fp16 there (with a gradient "
        "scaler); fp32 on the CPU and MPS", choices=("auto", "fp32", "bf16", "fp16"))
    max_length: int | None = setting(
        None, "sub-words per text for the student; longer texts are truncated and counted in "
        "the trace", parse=int_at_least(8), metavar="N",
        shown_default="128 for NER, 256 for classification (or the task file's `max_length`)")
    # teacher
    teacher: Literal["openai", "local"] = setting(
        "openai", "`openai` when an endpoint or key is configured, else `local`",
        choices=("openai", "local"), shown_default="auto")
    base_url: str = setting("", "the OpenAI-compatible endpoint", metavar="URL",
                            shown_default="`$OPENAI_BASE_URL`, else api.openai.com")
    model: str = setting("", "the teacher model", metavar="NAME",
                         shown_default="`$EVOKD_MODEL`, else gpt-4o-mini")
    local_model: str = setting("", "model of the embedded teacher", metavar="NAME|PATH.gguf",
                               shown_default="see below")
    max_concurrency: int = setting(8, "LLM requests in flight at once, shared by all roles",
                                   parse=positive, metavar="N")
    timeout: float = setting(
        60.0, "how long one LLM request may take, from sending it to the last byte of the "
        "reply, before it is retried", parse=seconds, metavar="SECONDS")
    budget_tokens: int | None = setting(
        None, "a hard cap on teacher tokens: each call first reserves its prompt (3 characters "
        "a token) + its `max_tokens` (512); a call that could cross the cap is not sent, the "
        f"round ends with what it has and the run stops with \"{BUDGET_SPENT}\"",
        parse=positive, metavar="N")
    price_in: float | None = setting(
        None, "currency per million prompt tokens: the dry run's cost column, and `cost` in "
        "metrics.jsonl, the progress line and the report of a real run",
        parse=non_negative_float, metavar="PRICE")
    price_out: float | None = setting(None, "currency per million completion tokens",
                                      parse=non_negative_float, metavar="PRICE")
    rpm: int | None = setting(
        None, "pace requests to N per minute, all roles together, over a sliding minute; "
        "independently, the client waits for the window's reset when the server's "
        "`x-ratelimit-remaining-*` headers say fewer requests or tokens are left than may be "
        "in flight, and a 429's `Retry-After` is honoured", parse=positive, metavar="N")
    tpm: int | None = setting(
        None, "pace tokens (prompt + `max_tokens` of each request, as providers count them) to "
        "N per minute", parse=positive, metavar="N")
    structured_method: Literal["json_schema", "function_calling", "json_object"] = setting(
        "json_object", "how structured output is requested",
        choices=("json_object", "json_schema", "function_calling"))
    cache: bool = setting(True, "do not use the shared LLM response cache")
    temperature: float = setting(0.8, "sampling temperature of the generator and analyst",
                                 parse=non_negative_float, metavar="T")
    reply_retries: int = setting(
        2, "times a role asks again, showing the error, after a reply it cannot use (not "
        "JSON, cut off at the token limit, a label outside the task, an entity not in the "
        "text); then the sample is dropped", parse=non_negative, metavar="N")
    judge_temperature: float = setting(
        0.0, "sampling temperature of the labeler and critic (greedy: the most likely labels)",
        parse=non_negative_float, metavar="T")
    # loop
    llm_critic: bool = setting(True, "the critic applies its rules only")
    texts_per_call: int = setting(4, "texts asked of one generator call", parse=positive,
                                  metavar="N")
    prompts: Literal["full", "compact"] = setting(
        "full", "compact: for a small model, a one-text generator call asks for one plain "
        "text on a topic with the target types or label (no examples, analysis JSON or "
        "history), "
        "and the NER labeler's reply is capped at its expected size and keeps the entities "
        "that are in the text and in the task instead of failing on the others",
        choices=("full", "compact"))
    critic_batch: int = setting(8, "samples judged in one critic call", parse=positive,
                                metavar="N")
    quote_errors: int | None = setting(
        None, "a hard generator call quotes up to N of the student's latest mistakes (the "
        "text, its correct annotation, the student's prediction; on the newest batch and the "
        "seed set) and asks for new texts with the same difficulty in other words and names; a "
        "new text that nearly repeats a quoted text or an earlier sample is dropped as "
        f"`near_duplicate`; 0: hard calls quote nothing (full prompts only); `auto`: "
        f"{AUTO_QUOTES} on a tagging task whose EvoKD loop writes its texts with full prompts, "
        "else 0 (on classification quoting has not paid; see BENCHMARKS.md)",
        parse=quote_count, metavar="N|auto", shown_default="auto")
    # a pool of the user's unlabelled texts (see README "Your unlabelled texts")
    pool: str = setting(
        "", "unlabelled texts to pick from instead of (or beside) writing them: a .txt file "
        "(one text a line), .jsonl or .csv (the task's text field), a saved `datasets` split "
        "folder, or `train` (a task's own train texts, labels hidden); texts in dev or test "
        "and seed examples are left out", metavar="PATH|train")
    source: Literal["auto", "generate", "pool", "mixed"] = setting(
        "auto", "where a round's texts come from: written by the generator, picked from "
        "`--pool` and labelled by the teacher, or `mixed` (the hard half picked, the easy half "
        "written); `auto`: `pool` when `--pool` is given, else `generate`",
        choices=SOURCES)
    selection: Literal["auto", "random"] = setting(
        "auto", "how pool texts are picked: `auto` takes typical, diverse texts in the first "
        "round and then the ones the student is least sure of, spread over its predicted "
        "labels (more for the analyst's weak ones); `random`: at random (the yardstick)",
        choices=("auto", "random"))
    cold_start: Literal["typical", "random"] = setting(
        "typical", "how `--selection auto` picks round 1, before the student has seen a pool "
        "text: `typical`, the most typical text of each cluster of the student's sentence "
        "embeddings; `random`, the texts `--selection random` would pick",
        choices=("typical", "random"))
    later_picks: Literal["uncertain", "dense", "total"] = setting(
        "uncertain", "how `--selection auto` picks after round 1: `uncertain`, the texts the "
        "student is least sure of (per word); `dense`, unsure texts that are also typical of "
        "the pool (the product of the two ranks), so that odd one-off texts give way; "
        "`total`, the most unsureness summed over a text's words (longer texts, more words "
        "to label per pick; for classification, the label's unsureness times the length)",
        choices=("uncertain", "dense", "total"))
    pool_scan: int = setting(
        2000, "pool texts the student scores per round (a seeded random sample of the texts "
        "not yet picked; the round's picks come from them), which bounds a round's time for "
        "any pool size", parse=positive, metavar="N")
    roles: tuple[str, ...] = setting(
        (), "optional agent roles switched on (each by its own flag, e.g. `--reviewer`)",
        flag=False)
    patience: int = setting(2, "stop after N rounds without a dev F1 gain", parse=positive,
                            metavar="N")
    # student training
    train_steps: int = setting(
        300, "minimum optimiser steps for the seed student (and each round's student under "
        "`--schedule retrain`)", parse=positive, metavar="N")
    round_steps: int = setting(150, "minimum optimiser steps per round under `--schedule "
                               "incremental`", parse=positive, metavar="N")
    replay: int = setting(64, "earlier samples replayed each round under `--schedule "
                          "incremental`", parse=non_negative, metavar="N")
    schedule: Literal["retrain", "incremental"] = setting(
        "retrain", "`retrain`: each round trains a fresh student from the backbone on the seed "
        "set + every accepted sample; `incremental`: fine-tunes the best student on the new "
        "batch + a replay of earlier samples", choices=("retrain", "incremental"))
    batch_size: int = setting(16, "training batch size", parse=positive, metavar="N")
    learning_rate: float = setting(5e-5, "the student's AdamW learning rate",
                                   parse=non_negative_float, metavar="LR")
    # strategy and ablations (each switch removes one part of EvoKD; see README "Strategies")
    strategy: Literal["evokd", "static", "none"] = setting(
        "evokd", "`static`: the baseline without analysis or feedback; `none`: the seed "
        "student alone (see \"Strategies, ablations, seeds\")",
        choices=tuple(STRATEGIES))
    easy: bool = setting(True, "ablation: hard samples only")
    correct: bool = setting(True, "ablation: the analyst sees no correctly predicted samples")
    history: bool = setting(True, "ablation: no review history in the prompts")
    separate_labeling: bool = setting(
        True, "ablation: the generator labels its own texts in the same call")
    critic: bool = setting(True, "ablation: no critic checks except the dev/test leakage "
                           "check")
    # where things are
    run_dir: str = setting("", "where outputs go", metavar="DIR",
                           shown_default="`runs/<task>-<time>`")
    keep_work: bool = setting(
        False, "keep every round's student under `RUN_DIR/work/` (by default `work/` holds only "
        "the best student so far, what `--resume` needs, and goes when the run ends)")
    data_dir: str = setting(
        "", "where the built-in tasks' data lives (`<dir>/<task>/`); a task file's paths are "
        "relative to the file", metavar="DIR", shown_default="`$EVOKD_DATA_DIR`, else `./data`")
    task_spec: dict[str, Any] | None = setting(None, "the resolved task (TaskSpec.to_dict)",
                                               flag=False)

    def __post_init__(self) -> None:
        if self.source in ("pool", "mixed") and not self.pool:
            raise UserError(f"--source {self.source} picks texts from a pool: give --pool FILE "
                            "(or --pool train for a built-in task's train texts)")
        if text_source(self) != "generate" and self.strategy != "evokd":
            raise UserError(f"--pool works with --strategy evokd, not {self.strategy}; for "
                            "random picks use --selection random")

    @property
    def spec(self) -> TaskSpec:
        """The run's task (stored whole, so a run needs no task file to resume or report)."""
        if self.task_spec is not None:
            return TaskSpec.from_dict(self.task_spec)
        from evokd.tasks.registry import resolve_task  # a run directory from before task files

        return resolve_task(self.task, Path(self.data_dir))

    def hardware(self) -> Hardware:
        """Device, precision and max length resolved for this machine (UserError if it
        cannot give them)."""
        spec = self.spec
        length = self.max_length or spec.max_length or DEFAULT_MAX_LENGTH[spec.kind]
        return resolve_hardware(self.device, self.precision, length)

    def role_on(self, name: str) -> bool:
        """Whether the optional agent role ``name`` runs in this run."""
        return name in self.roles

    def quotes_per_call(self, kind: str) -> int:
        """The mistakes a hard generator call quotes (``--quote-errors``); ``auto`` quotes
        ``AUTO_QUOTES`` on a tagging task (``kind`` "ner") whose loop has feedback and writes
        its texts with full prompts, else none."""
        if self.quote_errors is not None:
            return self.quote_errors
        writes = plan(self).feedback and text_source(self) == "generate"
        return AUTO_QUOTES if kind == "ner" and self.prompts == "full" and writes else 0

    @property
    def keeps_history(self) -> bool:
        """Whether rounds are remembered and shown to the LLM (evokd without --no-history)."""
        return plan(self).history

    def to_json(self) -> str:
        """The config as JSON text (for config.json)."""
        return config_text(dataclasses.asdict(self))

    @classmethod
    def from_run_dir(cls, run_dir: RunDir) -> RunConfig:
        """Read the config.json of ``run_dir`` (also one from before the rename of
        ``seed_steps``, ``timeout_s``, ``correct_samples`` and ``use_cache``, one with a
        role's switch as a key of its own, ``"reviewer": true``, and one from before
        ``quote_errors``, which resumes quoting nothing as it began)."""
        raw = {_RENAMED.get(k, k): v for k, v in run_dir.read_config().items()}
        raw.setdefault("quote_errors", 0)  # a run from before quoting quoted nothing
        known = {f.name for f in dataclasses.fields(cls)}
        switches = {f.name for f in dataclasses.fields(role_switches())}
        try:
            roles = [*raw.get("roles", []),  # older runs: "reviewer": true
                     *(k for k, v in raw.items() if k in switches and v is True)]
            return cls(**{k: v for k, v in raw.items() if k in known and k != "roles"},
                       roles=tuple(sorted(set(roles))))
        except (TypeError, AttributeError) as exc:
            raise UserError(f"{run_dir.config}: unreadable run config ({exc}); this run cannot "
                            "be resumed, start a new one with another --run-dir") from None


@dataclass(frozen=True)
class Command:
    """What one invocation does with the run: flags that are not part of config.json."""

    dry_run: bool = setting(
        False, "print, per round, the LLM calls and prompt / completion tokens this "
        "configuration would spend (and the cost with prices), then exit 0; nothing is called, "
        "trained or written. Every prompt is rendered by the real agents; tokens are counted "
        "with the embedded teacher's tokenizer when that is the teacher, else at 4 characters a "
        "token")
    seeds: list[int] | None = setting(
        None, "run each seed into `RUN_DIR/seed-N`; `RUN_DIR/summary.json` holds mean ± std "
        "of the test scores", parse=seed_list, metavar="A-B|A,B,...", shown_default="")
    resume: str | None = setting(
        None, "continue a stopped run from its last checkpoint, in DIR; endpoint, model, "
        "rounds, pacing and budget flags given with it apply, flags that shape the samples are "
        "refused (see \"Security\")", metavar="DIR", shown_default="")
    quiet: bool = setting(False, "no progress display")


def role_switches() -> type:
    """Settings with one switch per registered optional agent role (its ``--NAME`` flag, off
    by default); the switches that are on make RunConfig's ``roles``."""
    taken = {f.name for cls in (RunConfig, Command) for f in dataclasses.fields(cls)}
    clash = [role.name for role in optional_roles() if role.name in taken]
    if clash:
        raise ValueError(f"agent role {clash[0]!r} has the name of a setting; rename the role")
    return dataclasses.make_dataclass("RoleSwitches", [
        (role.name, bool, setting(False, role.switch)) for role in optional_roles()],
        frozen=True)


def setting_classes() -> tuple[type, ...]:
    """Every class of settings a run takes: the run's own, the optional roles', the
    command's."""
    return (RunConfig, role_switches(), Command)


def flags_markdown() -> str:
    """The README's flag table, made from the fields."""
    return flag_table(setting_classes(), LOCAL_PRESET)
