"""How long a training will take, from a rate measured on this machine rather than guessed.

A few optimisation steps on random token ids of the data's typical length give samples/s for
this model and device (on a small probe batch); the estimate is then rows x epochs / rate, plus
evaluation.
"""

from __future__ import annotations

import threading
import time

import torch

from bertviz_lib.devices import autocast, resolve_device, use_all_cores
from bertviz_lib.model import backbones, heads

EVALUATION_SPEEDUP = 3.0  # a forward pass alone costs about a third of a training step
PROBE_ROWS = 32  # rows of the measured batch at most, whatever the run's batch size
PROBE_TOKENS_ON_CPU = 512  # rows x tokens of the measured batch at most, on a CPU
PROBE_SECONDS = 1.0  # measured steps stop once this much time has passed
_MEASURING = threading.Lock()  # one measurement at a time in a process that serves many visitors


def probe_rows(batch_size: int, tokens: int, device_type: str) -> int:
    """The rows of the batch a rate is measured on: few enough that a step takes a fraction of a
    second on a CPU (samples/s barely depends on the batch size there)."""
    rows = min(batch_size, PROBE_ROWS)
    if device_type == "cpu":
        rows = min(rows, PROBE_TOKENS_ON_CPU // max(tokens, 1))
    return max(1, rows)


def measure_rate(
    model_name: str,
    batch_size: int,
    tokens: int,
    steps: int = 3,
    device_name: str = "auto",
    seconds: float = PROBE_SECONDS,
) -> float:
    """Training samples per second, from up to `steps` steps of a small probe batch (see
    `probe_rows`) after one warm-up step that is not counted, for at most `seconds`.

    The app measures in its own server process, which serves every visitor: whatever batch size
    a visitor types, this holds the process for a second or two and the memory of one small
    batch, one measurement at a time. On a GPU a larger batch would go faster, so the estimate
    errs on the long side there.
    """
    device = resolve_device(device_name)
    rows = probe_rows(batch_size, tokens, device.type)
    with _MEASURING:
        if device.type == "cpu":
            use_all_cores()
        config = backbones.load_config(model_name, num_labels=2)
        model = backbones.load_classifier(model_name, config).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        ids = torch.randint(1000, 2000, (rows, max(tokens, 4)), device=device)
        labels = torch.zeros(rows, dtype=torch.long, device=device)
        loss_fn = heads.loss_function("single_label")
        started, measured = None, 0
        for step in range(steps + 1):
            if step == 1:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
            with autocast(device):
                logits = model(input_ids=ids).logits
            loss_fn(logits.float(), labels).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= 1:
                measured += 1
                if time.perf_counter() - started > seconds:
                    break
        if device.type == "cuda":
            torch.cuda.synchronize()
        return rows * measured / (time.perf_counter() - started)


def training_seconds(rate: float, train_rows: int, validation_rows: int, epochs: int) -> float:
    return epochs * (train_rows / rate + validation_rows / (rate * EVALUATION_SPEEDUP))
