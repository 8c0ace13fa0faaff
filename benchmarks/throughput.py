"""Training throughput, measured side by side: HF Trainer as most notebooks run it, against this
project's loop, on the same texts, batch size, learning rate and device, in one process.

The Trainer variants are run_glue's default (every text padded to 128) and `group_by_length`
(dynamic padding, batches of similar lengths). Each variant trains for the same number of samples
from the same pretrained weights; time runs from tokenizing and loading the model to the last
step (warm-up and compilation, if any, included), and the time to the first step is reported apart.
On one CUDA GPU this project's loop replays CUDA graphs, as `fit` does: each batch shape runs a
few eager warm-up steps, then is captured; the captures' count and seconds are reported apart too
(they are inside the total time, spread over the first steps of each shape, not before the first).
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import LabelledData
from bertviz_lib.model import backbones
from bertviz_lib.train import batching
from bertviz_lib.train.graphed_step import capture_summary
from bertviz_lib.train.setup import set_up
from bertviz_lib.train.step import Stepper

BATCH_SIZE = 32
LEARNING_RATE = 5e-5
MAX_LENGTH = 128


@dataclass
class Throughput:
    variant: str
    samples: int
    seconds: float
    first_step_seconds: float
    real_tokens: int  # tokens that are not padding
    peak_memory_mb: float  # CUDA peak for this variant; on a CPU, the process's peak RSS so far
    graphs: int = 0  # CUDA graphs captured (this project's loop on one GPU)
    capture_seconds: float = 0.0  # spent capturing them, inside `seconds`

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.seconds

    def as_row(self) -> dict:
        return {
            **asdict(self),
            "samples_per_s": self.samples_per_s,
            "tokens_per_s": self.tokens_per_s,
        }


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def project_loop(
    data: LabelledData,
    samples: int,
    device: str = "auto",
    model: str = "bundled",
    cuda_graphs: bool = True,
) -> Throughput:
    """This project's loop (`train.set_up` and the `train.Stepper` that `fit` runs: CUDA graphs
    on one GPU unless `cuda_graphs` is off, eager steps elsewhere) for `samples` samples."""
    config = TrainConfig(
        batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, max_length=MAX_LENGTH, epochs=1,
        device=device, warmup_ratio=0.06, model=model, cuda_graphs=cuda_graphs,
    )  # fmt: skip
    started = time.perf_counter()
    s = set_up(data, data.subset(range(min(64, len(data)))), config)
    _reset_peak(s.device)
    lengths = [len(x) for x in s.train_ids]
    batches = batching.training_batches(lengths, BATCH_SIZE, np.random.default_rng(0))
    events: list[dict] = []
    step = Stepper(s, config, events.append)
    s.model.train()
    seen, tokens, first = 0, 0, None
    for rows in batches:
        step(rows)
        seen, tokens = seen + len(rows), tokens + sum(lengths[i] for i in rows)
        if first is None:
            first = time.perf_counter() - started
        if seen >= samples:
            break
    _synchronise(s.device)
    seconds = time.perf_counter() - started
    graphs, capture_seconds, off = capture_summary(events)
    if s.cuda_graphs:
        name = "project loop, CUDA graphs" if off is None else "project loop, graphs failed"
    else:
        name = "project loop, eager" if s.device.type == "cuda" else "project loop"
    peak = _peak_memory_mb(s.device)
    return Throughput(name, seen, seconds, first, tokens, peak, graphs, capture_seconds)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hf_trainer(
    data: LabelledData,
    samples: int,
    group_by_length: bool,
    output_dir: str,
    model: str = "bundled",
) -> Throughput:
    """HF Trainer on `model` (a name `backbones.resolve` knows): every text padded to 128
    (run_glue's default), or dynamic padding with batches grouped by length."""
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    tokenizer = backbones.load_tokenizer(model)
    encoded = tokenizer(
        data.texts,
        truncation=True,
        max_length=MAX_LENGTH,
        padding=False if group_by_length else "max_length",
    )
    labels = data.label_ids()
    rows = [
        {"input_ids": ids, "attention_mask": mask, "labels": int(label)}
        for ids, mask, label in zip(
            encoded["input_ids"], encoded["attention_mask"], labels, strict=True
        )
    ]
    network = backbones.load_classifier(
        model, backbones.load_config(model, num_labels=len(data.label_names))
    )
    steps = max(1, samples // BATCH_SIZE)
    arguments = TrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
        max_steps=steps, warmup_steps=0.06, logging_strategy="no", save_strategy="no",
        report_to="none", bf16=cuda, use_cpu=not cuda, dataloader_num_workers=0, seed=0,
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
    )  # fmt: skip
    first: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if not first:
                first.append(time.perf_counter() - started)

    collator = DataCollatorWithPadding(tokenizer) if group_by_length else None
    trainer = Trainer(model=network, args=arguments, train_dataset=rows, data_collator=collator,
                      callbacks=[Clock()])  # fmt: skip
    device = trainer.args.device
    _reset_peak(device)
    trainer.train()
    _synchronise(device)
    seconds = time.perf_counter() - started
    seen = steps * BATCH_SIZE
    real = int(np.mean([sum(r["attention_mask"]) for r in rows]) * seen)
    name = "HF Trainer, group_by_length" if group_by_length else "HF Trainer, padded to 128"
    return Throughput(name, seen, seconds, first[0], real, _peak_memory_mb(device))


def compare(
    data: LabelledData, samples: int, output_dir: str, repeats: int = 1, model: str = "bundled"
) -> list[list[Throughput]]:
    """Each variant's runs on the same data in this process: padded-128 once, then
    group_by_length, this project's loop without CUDA graphs (on a GPU only: elsewhere it is the
    same loop) and with them, alternated `repeats` times. The project loop as it trains by
    default comes last.

    A machine's speed drifts from minute to minute (on the 2-core development machine by up to a
    third within an hour), so one run of each variant can put the drift into the ratio; runs
    alternated in pairs see about the same drift. Padded-128 runs once: it is some ten times
    slower, and it would take most of the time again."""
    padded = _said(hf_trainer(data, samples, False, output_dir, model))
    gpu = torch.cuda.is_available()
    grouped, eager, ours = [], [], []
    for _ in range(repeats):
        grouped.append(_said(hf_trainer(data, samples, True, output_dir, model)))
        if gpu:
            eager.append(_said(project_loop(data, samples, model=model, cuda_graphs=False)))
        ours.append(_said(project_loop(data, samples, model=model)))
    return [[padded], grouped, *([eager] if gpu else []), ours]


def _said(run: Throughput) -> Throughput:
    """Each run as it ends, so a benchmark cut short still shows the runs it finished."""
    print(f"{run.variant}: {run.samples_per_s:.1f} samples/s over {run.seconds:.2f} s, first "
          f"step {run.first_step_seconds:.2f} s, {run.graphs} graphs", flush=True)  # fmt: skip
    return run
