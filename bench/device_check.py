"""One prepared check for a machine with a GPU: the student on the accelerator vs the CPU.

    python bench/device_check.py [--device auto] [--precision auto] [--task conll03]
                                 [--steps 300] [--cpu-steps 30] [--data-dir DIR]

1. The seed student (1-shot seed set, ``--steps`` steps) trained on the device, then dev and
   test scored there: seconds for each part and for the whole (aim: under 30 s for CoNLL-2003).
2. Training and prediction examples/s on the device vs on the CPU (fp32, ``--cpu-steps`` steps,
   ``--cpu-predict`` dev examples), and the ratio.
3. Training examples/s of the project's loop vs a plain ``Trainer`` on the same device and
   precision (``--trainer-steps`` steps, batch 16, the task's train split), and the ratio.
4. One round of the loop (``main.py --rounds 1``) on the device with the scripted teacher
   (bench/fake_server.py, no network), and its wall time.

On a machine with neither CUDA nor Apple MPS it prints "no accelerator" and exits 0;
``--device cpu`` runs every step on the CPU instead (to try the script itself).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from bench.fake_server import ServerProcess  # noqa: E402
from bench.train_throughput import CPU, ours, trainer  # noqa: E402
from evokd.core.devices import describe_device, pick_device  # noqa: E402
from evokd.core.errors import UserError  # noqa: E402
from evokd.student import DEFAULT_STUDENT, Student, TrainSettings  # noqa: E402
from evokd.student.hardware import DEFAULT_MAX_LENGTH, Hardware, resolve_hardware  # noqa: E402
from evokd.tasks import load_task_data, resolve_data_dir, resolve_task  # noqa: E402
from evokd.tasks.sampler import seed_examples  # noqa: E402

AIM_SECONDS = 30.0


def _sync(device: str) -> None:
    """Wait for queued GPU work so wall times are true."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def _timed(device: str, work: Any) -> tuple[Any, float]:
    _sync(device)
    started = time.perf_counter()
    result = work()
    _sync(device)
    return result, time.perf_counter() - started


def seed_student(spec: Any, seeds: list, dev: list, test: list, steps: int,
                 hardware: Hardware) -> dict[str, float]:
    """Train the seed student and score dev and test on ``hardware``; seconds and scores."""
    student, load_s = _timed(hardware.device, lambda: Student.create(
        spec, DEFAULT_STUDENT, seed=1, hardware=hardware))
    report, train_s = _timed(hardware.device, lambda: student.train(
        seeds, TrainSettings(min_steps=steps, epochs=0, batch_size=16)))
    dev_scores, dev_s = _timed(hardware.device, lambda: student.evaluate(dev))
    test_scores, test_s = _timed(hardware.device, lambda: student.evaluate(test) if test else {})
    return {"load_s": load_s, "train_s": train_s, "train_ex_s": report["examples_per_s"],
            "dev_s": dev_s, "test_s": test_s,
            "predict_ex_s": (len(dev) + len(test)) / max(dev_s + test_s, 1e-9),
            "dev_f1": dev_scores.get("f1", 0.0), "test_f1": test_scores.get("f1", 0.0),
            "total_s": load_s + train_s + dev_s + test_s}


def predict_rate(spec: Any, examples: list, hardware: Hardware) -> float:
    """Prediction examples/s of a fresh student on ``hardware`` (after one warm-up batch)."""
    student = Student.create(spec, DEFAULT_STUDENT, seed=1, hardware=hardware)
    student.predict(examples[:16])
    _, seconds = _timed(hardware.device, lambda: student.predict(examples))
    return len(examples) / max(seconds, 1e-9)


def one_round(task: str, device: str, precision: str, data_dir: Path, steps: int) -> float:
    """Wall seconds of ``main.py --rounds 1`` on ``device`` with the scripted teacher."""
    import evokd.main as cli
    with tempfile.TemporaryDirectory() as work, ServerProcess(latency=0.0) as server:
        os.environ["OPENAI_API_KEY"] = server.api_key
        os.environ["EVOKD_CACHE_DIR"] = str(Path(work) / "cache")
        started = time.perf_counter()
        code = cli.main([
            "--task", task, "--rounds", "1", "--samples-per-round", "16", "--device", device,
            "--precision", precision, "--base-url", server.base_url, "--model", server.model,
            "--data-dir", str(data_dir), "--run-dir", str(Path(work) / "run"),
            "--train-steps", str(steps), "--quiet"])
        seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the one-round run exited with status {code}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--task", default="conll03")
    parser.add_argument("--steps", type=int, default=300, help="seed-student training steps")
    parser.add_argument("--cpu-steps", type=int, default=30)
    parser.add_argument("--cpu-predict", type=int, default=500)
    parser.add_argument("--trainer-steps", type=int, default=100)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-round", action="store_true", help="skip the one-round loop run")
    args = parser.parse_args(argv)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        if args.device == "auto" and pick_device("auto") == "cpu":
            print(f"no accelerator: torch {torch.__version__} sees no CUDA GPU and no Apple MPS "
                  "on this machine; nothing to compare (run it where a GPU is, or pass "
                  "--device cpu to try the script on the CPU)")
            return 0
        spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
        hardware = resolve_hardware(args.device, args.precision, DEFAULT_MAX_LENGTH[spec.kind])
        data = load_task_data(spec)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seeds = seed_examples(spec, data, 1, 1)
    test = data.test or []
    print(f"device {describe_device(hardware.device)}, precision {hardware.precision}; "
          f"task {spec.name}: {len(seeds)} seed examples, dev {len(data.dev)}, test {len(test)}")

    seed_student(spec, seeds[:2], data.dev[:32], [], 2, hardware)  # warm-up, not measured
    run = seed_student(spec, seeds, data.dev, test, args.steps, hardware)
    verdict = "within" if run["total_s"] <= AIM_SECONDS else "over"
    print(f"seed student on {hardware.device}: {args.steps} steps {run['train_s']:.1f} s "
          f"({run['train_ex_s']:.0f} ex/s), dev {run['dev_s']:.1f} s + test {run['test_s']:.1f} s "
          f"({run['predict_ex_s']:.0f} ex/s), load {run['load_s']:.1f} s; total "
          f"{run['total_s']:.1f} s ({verdict} the {AIM_SECONDS:.0f} s aim); dev F1 "
          f"{run['dev_f1']:.3f}, test F1 {run['test_f1']:.3f}")

    cpu_train = ours(spec, seeds, args.cpu_steps, 16, CPU)
    dev_part = data.dev[: args.cpu_predict]
    cpu_predict = predict_rate(spec, dev_part, CPU)
    device_predict = predict_rate(spec, dev_part, hardware)
    print(f"training: {run['train_ex_s']:.0f} ex/s on {hardware.device} vs {cpu_train:.0f} ex/s "
          f"on the CPU, ratio {run['train_ex_s'] / cpu_train:.1f}")
    print(f"prediction: {device_predict:.0f} ex/s on {hardware.device} vs {cpu_predict:.0f} "
          f"ex/s on the CPU, ratio {device_predict / cpu_predict:.1f}")

    if spec.kind == "ner":
        pool = data.train[:1600]
        a = ours(spec, pool, args.trainer_steps, 16, hardware)
        b = trainer(spec, pool, args.trainer_steps, 16, hardware)
        print(f"training vs Trainer on {hardware.device} ({hardware.precision}): evokd {a:.0f} "
              f"ex/s, Trainer {b:.0f} ex/s, ratio {a / b:.2f} (aim >= 1.0)")
    else:
        print("training vs Trainer: measured for NER tasks only (token classification)")

    if not args.no_round:
        seconds = one_round(args.task, hardware.device, hardware.precision,
                            resolve_data_dir(args.data_dir), args.steps)
        print(f"one round (seed student + 16 samples, scripted teacher) on {hardware.device}: "
              f"{seconds:.1f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
