"""Does an explanation point at the tokens the model really uses? Deletion and insertion curves.

Take tokens away in the order an explanation ranks them (most in favour of the target first) and
watch the target's probability: a faithful ranking makes it fall fast (high comprehensiveness).
Start from nothing and put tokens back in that order: a faithful ranking brings it back fast (low
sufficiency). Both are AOPC scores (DeYoung et al. 2020, ERASER), the mean over k = 1..n of
p(text) - p(changed text). A random order is the yardstick: a method that does no better than
chance on this text tells the user nothing about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bertviz_lib.explain.explanation import Explanation, device_of, encode
from bertviz_lib.model import heads

FILLERS = ("pad", "mask")
RANDOM = "random"


def filler_for(baseline: str) -> str:
    """The token that stands for 'taken away': the baseline's, or [PAD] for zero embeddings
    (a token is needed here, and [PAD] is the closest to nothing)."""
    return "mask" if baseline == "mask" else "pad"


@dataclass
class Curves:
    name: str  # a method, or "random" (the mean over several random orders)
    deletion: list[float]  # p with the top k tokens replaced, k = 0..n
    insertion: list[float]  # p with only the top k tokens kept, k = 0..n
    comprehensiveness: float  # higher is better
    sufficiency: float  # lower is better


@dataclass
class Faithfulness:
    target: int
    probability: float
    filler: str
    tokens: int  # how many tokens can be taken away ([CLS] and [SEP] never are)
    curves: list[Curves]

    @property
    def random(self) -> Curves:
        return next(curve for curve in self.curves if curve.name == RANDOM)

    def most_faithful(self) -> str:
        """The method with the largest comprehensiveness minus sufficiency on this text."""
        methods = [c for c in self.curves if c.name != RANDOM]
        return max(methods, key=lambda c: c.comprehensiveness - c.sufficiency).name

    def verdict(self, name: str) -> str:
        """In words: does this method's ranking beat a random one on this text?"""
        curve = next(c for c in self.curves if c.name == name)
        better = [
            curve.comprehensiveness > self.random.comprehensiveness,
            curve.sufficiency < self.random.sufficiency,
        ]
        return {
            2: "beats random on both",
            1: "beats random on one of two",
            0: "no better than random",
        }[sum(better)]


def faithfulness(
    model,
    tokenizer,
    text: str,
    explanations: Sequence[Explanation],
    *,
    problem_type: str,
    max_length: int = 128,
    filler: str = "pad",
    random_orders: int = 10,
    seed: int = 0,
    batch_size: int = 128,
) -> Faithfulness:
    """Curves and AOPC scores for each explanation of `text` (all for the same target)."""
    if filler not in FILLERS:
        raise ValueError(f"Tokens are replaced by one of {FILLERS}, not '{filler}'.")
    if not explanations:
        raise ValueError("Give at least one explanation to check.")
    target = explanations[0].target
    if any(e.target != target for e in explanations):
        raise ValueError("All explanations must be of the same target class.")
    model.eval()
    encoded = encode(tokenizer, text, max_length, device_of(model))
    if any(e.tokens != encoded.tokens for e in explanations):
        raise ValueError("An explanation was made for a different text or window.")
    positions = np.array([i for i, special in enumerate(encoded.special) if not special])
    orders = {e.method: _ranked(positions, e.token_attributions) for e in explanations}
    generator = np.random.default_rng(seed)
    shuffled = [generator.permutation(positions) for _ in range(random_orders)]
    fill = tokenizer.pad_token_id if filler == "pad" else tokenizer.mask_token_id
    rows = [_edits(encoded.ids[0], order, fill) for order in [*orders.values(), *shuffled]]
    probabilities = _probabilities(
        model, torch.cat(rows), encoded.mask, problem_type, target, batch_size
    )
    per_order = probabilities.reshape(len(rows), 2, len(positions) + 1)
    p = float(per_order[0, 0, 0])
    curves = [_curves(name, per_order[i], p) for i, name in enumerate(orders)]
    curves.append(_curves(RANDOM, per_order[len(orders) :].mean(axis=0), p))
    return Faithfulness(target, p, filler, len(positions), curves)


def _ranked(positions: np.ndarray, attributions: Sequence[float]) -> np.ndarray:
    values = np.asarray(attributions, dtype=float)[positions]
    return positions[np.argsort(-values, kind="stable")]


def _edits(ids: torch.Tensor, order: np.ndarray, fill: int) -> torch.Tensor:
    """2 (n + 1) rows: the top k replaced (deletion), then only the top k kept (insertion)."""
    steps = len(order) + 1
    deleted = ids.repeat(steps, 1)
    inserted = ids.repeat(steps, 1)
    inserted[:, torch.as_tensor(order, device=ids.device)] = fill
    for k, position in enumerate(order.tolist(), start=1):
        deleted[k:, position] = fill
        inserted[k:, position] = ids[position]
    return torch.cat([deleted, inserted])


@torch.no_grad()
def _probabilities(model, ids, mask, problem_type, target, batch_size) -> np.ndarray:
    out = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        logits = model(input_ids=chunk, attention_mask=mask.expand_as(chunk)).logits
        out.append(heads.probabilities(problem_type, logits)[:, target].float().cpu())
    return torch.cat(out).numpy()


def _curves(name: str, both: np.ndarray, p: float) -> Curves:
    deletion, insertion = both
    return Curves(
        name=name,
        deletion=[float(x) for x in deletion],
        insertion=[float(x) for x in insertion],
        comprehensiveness=float(np.mean(p - deletion[1:])) if len(deletion) > 1 else 0.0,
        sufficiency=float(np.mean(p - insertion[1:])) if len(insertion) > 1 else 0.0,
    )
