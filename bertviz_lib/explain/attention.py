"""What [CLS] attends to: raw attention per layer and head, and attention rollout.

Attention says where information may flow, not which tokens changed the prediction; the
agreement score against an attribution method is there to show how far the two differ.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr


@dataclass
class AttentionMaps:
    tokens: list[str]
    attentions: np.ndarray  # layers x heads x tokens x tokens, each row sums to 1
    seconds: float

    @property
    def cls_rows(self) -> np.ndarray:
        """layers x heads x tokens: how much [CLS] (position 0) attends to each token."""
        return self.attentions[:, :, 0, :]

    def rollout(self) -> np.ndarray:
        """[CLS]'s row of the rolled-out attention (Abnar & Zuidema 2020)."""
        return rollout(self.attentions)[0]


@contextmanager
def eager_attention(model):
    """SDPA kernels return no attention weights; the eager implementation does."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(previous)


@torch.no_grad()
def attention_maps(model, tokenizer, text: str, max_length: int = 128) -> AttentionMaps:
    started = time.perf_counter()
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    device = next(model.parameters()).device
    model.eval()
    with eager_attention(model):
        output = model(**{k: v.to(device) for k, v in encoded.items()}, output_attentions=True)
    stacked = torch.stack(output.attentions)[:, 0].float().cpu().numpy()
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    return AttentionMaps(tokens, stacked, time.perf_counter() - started)


def rollout(attentions: np.ndarray) -> np.ndarray:
    """Joint attention from the input up: each layer's head average, plus the residual path
    (the identity), rows renormalised, multiplied layer by layer."""
    layers, _, tokens, _ = attentions.shape
    joint = np.eye(tokens)
    for layer in range(layers):
        mixed = 0.5 * attentions[layer].mean(axis=0) + 0.5 * np.eye(tokens)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        joint = mixed @ joint
    return joint


def rank_agreement(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman rank correlation; None when either side is constant (no ranking to compare)."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if len(first) < 2 or np.ptp(first) == 0 or np.ptp(second) == 0:
        return None
    return float(spearmanr(first, second).statistic)
