"""AdamW with its parameter groups, and the learning-rate schedule: a linear warm-up, then a
linear decay to 0.
"""

from __future__ import annotations

import torch

from bertviz_lib.config import TrainConfig


def make_optimizer(
    model, config: TrainConfig, device: torch.device, capturable: bool = False
) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and normalisation weights; the fused kernel (CUDA
    and CPU) updates all parameters in one pass instead of one kernel per tensor.

    `capturable` (for CUDA graphs) keeps the step counts and the learning rate in device tensors,
    which a replayed graph reads and the schedule fills in place."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decayed = [p for n, p in trainable if p.ndim >= 2]
    undecayed = [p for n, p in trainable if p.ndim < 2]
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    lr = torch.tensor(config.learning_rate, device=device) if capturable else config.learning_rate
    return torch.optim.AdamW(groups, lr=lr, fused=fused, capturable=capturable)


def warmup_then_linear(optimizer, warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
