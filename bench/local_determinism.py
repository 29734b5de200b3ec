"""Does the embedded teacher give the same reply to the same seeded request whatever it is
batched with? The loop's own generator calls (compact, one text each, the run's sampling
temperature and per-call seeds) are sent twice with ``--concurrency`` in flight and once one at
a time; the script prints, per call, whether the replies match.

    python bench/local_determinism.py [--task sst2] [--calls 8] [--concurrency 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evokd.agents.generator import GeneratorRequest, generate  # noqa: E402
from evokd.tasks import resolve_data_dir, resolve_task  # noqa: E402
from evokd.tasks.spec import TaskSpec  # noqa: E402
from evokd.teacher import TeacherClient, TeacherSettings  # noqa: E402
from evokd.teacher.local import DEFAULT_MODEL, LocalTeacher  # noqa: E402

TEMPERATURE = 0.8  # the generator's default sampling temperature


async def texts(base_url: str, model: str, task: TaskSpec, calls: int, concurrency: int,
                seed: int) -> list[str | None]:
    """The text of each generator call (None where it gave none)."""
    settings = TeacherSettings(base_url=base_url, model=model, api_key="unused",
                               max_concurrency=concurrency, structured_method="json_schema",
                               timeout_s=900.0, seed=seed, validation_retries=0,
                               temperature=TEMPERATURE)
    async with TeacherClient(settings) as client:  # no response cache: every call decodes
        done = await asyncio.gather(*(generate(client, task, GeneratorRequest(
            "hard" if call % 2 else "easy", 1, 1, call=call,
            intended_label=task.labels[call % len(task.labels)] if task.kind == "cls" else None,
            compact=True)) for call in range(calls)))
    return [samples[0]["text"] if samples else None for samples, _ in done]


async def main_async(args: argparse.Namespace) -> None:
    task = resolve_task(args.task, resolve_data_dir(args.data_dir))
    async with LocalTeacher(DEFAULT_MODEL, device="cpu") as local:
        runs = {}
        for name, concurrency in (("A", args.concurrency), ("B", args.concurrency), ("C", 1)):
            started = time.perf_counter()
            runs[name] = await texts(local.base_url, local.model_name, task, args.calls,
                                     concurrency, args.seed)
            print(f"run {name}: {concurrency} in flight, {time.perf_counter() - started:.0f} s",
                  flush=True)
    same_ab = sum(a == b for a, b in zip(runs["A"], runs["B"], strict=True))
    same_ac = sum(a == c for a, c in zip(runs["A"], runs["C"], strict=True))
    for call, (a, b, c) in enumerate(zip(runs["A"], runs["B"], runs["C"], strict=True)):
        print(f"call {call}: A{'=' if a == b else '≠'}B A{'=' if a == c else '≠'}C  "
              f"{(a or '')[:70]!r}")
    print(f"same reply: A and B (both {args.concurrency} in flight) {same_ab}/{args.calls}; "
          f"A and C (one at a time) {same_ac}/{args.calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
