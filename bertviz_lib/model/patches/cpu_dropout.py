"""Dropout on the CPU from a cheaper source of random bits, while training.

Why: PyTorch's CPU dropout draws one random number per element and then scales in separate passes,
a measurable share of a CPU training step (docs/benchmarks.md). Here each 64-bit draw gives four
16-bit numbers, and an element is kept when its number is at or above a threshold: the same
Bernoulli mask from a quarter of the random draws. The drop probability is rounded to a multiple
of 1/65,536 (0.1 becomes 0.100006) and the kept values are scaled by the exact inverse of the keep
probability, so every activation keeps its expected value.

Attention probabilities are dropped inside the attention function, not by a module, so training on
the CPU runs BERT's eager attention arithmetic (with its additive mask) under its own name, with
this dropout; evaluation runs the same arithmetic with none. Nothing of this lands in the weights or
in the saved config: a saved model is a plain BertForSequenceClassification.
"""

from __future__ import annotations

import math

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import eager_mask
from transformers.models.bert.modeling_bert import BertForSequenceClassification

ATTENTION = "bertviz_cpu_dropout"
LEVELS = 65536  # the values a 16-bit number takes


def keep_mask(
    shape: torch.Size, p: float, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, float]:
    """A Bernoulli mask of `shape` that keeps each element with probability 1 - p (p rounded to a
    multiple of 1/65,536), and that keep probability."""
    count = math.prod(shape)
    bits = torch.empty(-(-count // 4), dtype=torch.int64, device=device).random_(-(2**63), None)
    numbers = bits.view(torch.int16)[:count].view(shape)
    dropped = round(p * LEVELS)
    return numbers >= dropped - LEVELS // 2, 1 - dropped / LEVELS


def drop(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`torch.nn.functional.dropout(x, p, training)`, with its mask from `keep_mask`."""
    if not training or p == 0:
        return x
    keep, share = keep_mask(x.shape, p, x.device)
    if share == 0:
        return x * 0
    return x * keep.to(x.dtype).mul_(1 / share)  # one scaled mask, which backward reuses


class CpuDropout(torch.nn.Dropout):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop(x, self.p, self.training)


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """BERT's eager attention (`modeling_bert.eager_attention_forward`) with `drop`."""
    scores = torch.matmul(query, key.transpose(2, 3)) * (scaling or query.size(-1) ** -0.5)
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = drop(torch.softmax(scores, dim=-1), dropout, module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


AttentionInterface.register(ATTENTION, attention)
AttentionMaskInterface.register(ATTENTION, eager_mask)


def use_cpu_dropout(model: torch.nn.Module) -> bool:
    """Give `model` the cheaper dropout everywhere; False when it is not a plain BERT classifier,
    the only architecture checked here."""
    if type(model) is not BertForSequenceClassification:
        return False
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is torch.nn.Dropout:
                setattr(parent, name, CpuDropout(child.p))
    model.set_attn_implementation(ATTENTION)
    return True
