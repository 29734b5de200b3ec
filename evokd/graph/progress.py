"""The progress display on stderr: a live bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from evokd.core.cli import visible


class ProgressDisplay:
    """Shows training steps, LLM calls in flight, tokens and per-round dev F1."""

    def __init__(self, enabled: bool = True) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.live = enabled and self.console.is_terminal
        self.quiet = not enabled
        self.tokens = 0
        self.calls = 0
        self._bar: Progress | None = None
        self._task: Any = None
        self._last_line = 0.0
        self._phase_start = time.monotonic()
        self._phase_calls: tuple[int, int | None] = (0, None)  # calls before it, its total

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), console=self.console, transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def say(self, text: str) -> None:
        """A line that stays (round results, phase changes), never wrapped or read as
        markup (a drop reason may hold brackets)."""
        if not self.quiet:
            self.console.print(Text(visible(text)), soft_wrap=True)

    def phase(self, description: str, total: int | None = None,
              calls: int | None = None) -> None:
        """Start a new bar (training, LLM calls); a plain line when not on a terminal.
        ``calls``: about how many LLM calls the phase makes (its progress lines then show
        done/total and the time left)."""
        self._phase_start = time.monotonic()
        self._phase_calls = (self.calls, calls)
        if self._bar is None:
            if not self.quiet:
                self.console.print(description)
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(description, total=total, info="")

    def training_step(self, step: int, total: int, loss: float) -> None:
        """Callback for student training (called from the training thread)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=step, total=total, info=f"loss {loss:.3f}")
        elif not self.quiet and (step == total or time.monotonic() - self._last_line > 30):
            self._last_line = time.monotonic()
            self.console.print(f"  training step {step}/{total}, loss {loss:.3f}, "
                               f"{self._timing(step, total)}", soft_wrap=True)

    def _timing(self, done: int, total: int | None) -> str:
        """Elapsed time of the phase, and the time left at its pace so far."""
        elapsed = time.monotonic() - self._phase_start
        text = f"{_clock(elapsed)} elapsed"
        if total and 0 < done < total:
            text += f", about {_clock(elapsed / done * (total - done))} left"
        return text

    def llm_event(self, event: dict[str, Any], in_flight: int) -> None:
        """Account an ``llm_call`` trace event."""
        self.calls += 1
        self.tokens += int(event.get("prompt_tokens") or 0) + int(
            event.get("completion_tokens") or 0
        )
        before, expected = self._phase_calls
        done = self.calls - before
        shown = f"{done}/~{expected}" if expected else f"{done}"
        info = (f"{shown} calls, {in_flight} in flight, {self.tokens:,} tokens, "
                + self._timing(done, expected))
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=0, info=info)
        elif not self.quiet and time.monotonic() - self._last_line > 30:
            self._last_line = time.monotonic()
            self.console.print(f"  LLM: {info}", soft_wrap=True)


def _clock(seconds: float) -> str:
    """``1m 05s`` (or ``42s``)."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def stderr_is_terminal() -> bool:
    """True when stderr is an interactive terminal."""
    return sys.stderr.isatty()
