"""Student training throughput: the project's loop vs a plain Hugging Face Trainer.

Same backbone, same data, same batch size and number of steps, run alternately in one process
so machine noise hits both alike. Prints examples/s of each and the ratio (ours / Trainer).
``bench/device_check.py`` uses the same two functions on a GPU.

    python bench/train_throughput.py [--task conll03] [--steps 40] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from transformers import (
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging

from evokd.student import DEFAULT_STUDENT, Student, TrainSettings, resolve_backbone
from evokd.student.encoding import encode
from evokd.student.hardware import Hardware
from evokd.tasks import load_task_data, resolve_data_dir, resolve_task

CPU = Hardware("cpu", "fp32", 128)


def ours(spec, data, steps: int, batch: int, hardware: Hardware = CPU) -> float:
    """Training examples/s of the project's loop on ``hardware``."""
    student = Student.create(spec, DEFAULT_STUDENT, seed=1, hardware=hardware)
    report = student.train(data, TrainSettings(min_steps=steps, epochs=0, batch_size=batch))
    return report["examples_per_s"]


def trainer(spec, data, steps: int, batch: int, hardware: Hardware = CPU) -> float:
    """Training examples/s of a plain Trainer (same model, data, precision) on ``hardware``."""
    student = Student.create(spec, DEFAULT_STUDENT, seed=1, hardware=hardware)  # tokenizer, labels
    labels = spec.tag_set
    model = AutoModelForTokenClassification.from_pretrained(
        resolve_backbone(DEFAULT_STUDENT), num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={lb: i for i, lb in enumerate(labels)})
    items = [encode(spec, student.tokenizer, ex, student.label2id, hardware.max_length)
             for ex in data]
    for item in items:
        item.pop("word_ids")
        item.pop("truncated")
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch, max_steps=steps,
            learning_rate=5e-5, warmup_steps=int(0.1 * steps), weight_decay=0.01,
            logging_strategy="no", save_strategy="no", report_to=[],
            use_cpu=hardware.device == "cpu", seed=1, disable_tqdm=True,
            bf16=hardware.precision == "bf16", fp16=hardware.precision == "fp16",
            dataloader_num_workers=0)
        run = Trainer(model=model, args=args, train_dataset=items,
                      data_collator=DataCollatorForTokenClassification(student.tokenizer))
        started = time.perf_counter()
        run.train()
        seconds = time.perf_counter() - started
    return steps * batch / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="conll03")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--examples", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spec = resolve_task(args.task, resolve_data_dir(args.data_dir))
    data = load_task_data(spec).train[: args.examples]
    print(f"task {args.task}, {len(data)} examples, batch {args.batch_size}, "
          f"{args.steps} steps, torch threads {torch.get_num_threads()}")
    ours(spec, data[:32], 2, args.batch_size)  # warm-up: first-call kernel set-up is not measured
    ratios = []
    for repeat in range(args.repeats):
        a = ours(spec, data, args.steps, args.batch_size)
        b = trainer(spec, data, args.steps, args.batch_size)
        ratios.append(a / b)
        print(f"repeat {repeat + 1}: evokd {a:.1f} ex/s, HF Trainer {b:.1f} ex/s, "
              f"ratio {a / b:.2f}")
    print(f"throughput ratio evokd / Trainer: {sum(ratios) / len(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
