"""How long a training will take, from a rate measured on this machine rather than guessed.

A few optimisation steps on random token ids of the data's typical length give samples/s for
this model, batch size and device; the estimate is then rows x epochs / rate, plus evaluation.
"""

from __future__ import annotations

import time

import torch

from bertviz_lib.devices import autocast, resolve_device, use_all_cores
from bertviz_lib.model import backbones, heads

EVALUATION_SPEEDUP = 3.0  # a forward pass alone costs about a third of a training step


def measure_rate(
    model_name: str, batch_size: int, tokens: int, steps: int = 3, device_name: str = "auto"
) -> float:
    """Training samples per second, after one warm-up step that is not counted."""
    device = resolve_device(device_name)
    if device.type == "cpu":
        use_all_cores()
    config = backbones.load_config(model_name, num_labels=2)
    model = backbones.load_classifier(model_name, config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(1000, 2000, (batch_size, max(tokens, 4)), device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    loss_fn = heads.loss_function("single_label")
    started = None
    for step in range(steps + 2):
        if step == 2:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        with autocast(device):
            logits = model(input_ids=ids).logits
        loss_fn(logits.float(), labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - started)


def training_seconds(rate: float, train_rows: int, validation_rows: int, epochs: int) -> float:
    return epochs * (train_rows / rate + validation_rows / (rate * EVALUATION_SPEEDUP))
