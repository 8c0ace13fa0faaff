"""The classification head's three shapes, and the loss and probabilities that go with each.

- single_label: one logit per class, softmax, cross-entropy. The usual choice, two classes included.
- binary: one logit, sigmoid gives the probability of the positive class (the second label name),
  binary cross-entropy. This is the textbook head of the learning page.
- multi_label: one logit per label, each with its own sigmoid; a row may hold any number.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

HF_PROBLEM_TYPES = {
    "single_label": "single_label_classification",
    "binary": "multi_label_classification",  # one sigmoid output: BCE in transformers too
    "multi_label": "multi_label_classification",
}


def output_size(problem_type: str, num_labels: int) -> int:
    return 1 if problem_type == "binary" else num_labels


def targets(problem_type: str, label_ids: np.ndarray | None, label_matrix: np.ndarray | None):
    """Training targets as a tensor in the form the head's loss expects."""
    if problem_type == "single_label":
        return torch.as_tensor(label_ids, dtype=torch.long)
    if problem_type == "binary":
        return torch.as_tensor(label_ids, dtype=torch.float32).unsqueeze(-1)
    return torch.as_tensor(label_matrix, dtype=torch.float32)


def loss_function(problem_type: str, weights: torch.Tensor | None = None) -> nn.Module:
    """Cross-entropy for softmax heads; BCE with an optional positive weight for sigmoid heads."""
    if problem_type == "single_label":
        return nn.CrossEntropyLoss(weight=weights)
    return nn.BCEWithLogitsLoss(pos_weight=weights)


def row_weighted_loss(
    loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor, row_weights: torch.Tensor
) -> torch.Tensor:
    """What `loss_fn` gives over the rows of weight 1 alone, on a batch that also holds rows of
    weight 0 (the fillers that give a short batch the shape of a captured CUDA graph).

    The weighted sum is divided by what the mean reduction divides by over the real rows: the
    sum of their class weights for cross-entropy, their count times the outputs for BCE.
    """
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        class_weight = loss_fn.weight
        per_row = functional.cross_entropy(logits, targets, class_weight, reduction="none")
        counted = row_weights if class_weight is None else row_weights * class_weight[targets]
        return (per_row * row_weights).sum() / counted.sum()
    per_output = functional.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=loss_fn.pos_weight, reduction="none"
    )
    return (per_output * row_weights[:, None]).sum() / (row_weights.sum() * logits.shape[-1])


def class_weights(problem_type: str, label_ids, label_matrix, num_labels: int) -> torch.Tensor:
    """Weights that make every class count as much as the others ("balanced" in scikit-learn).

    For sigmoid heads this is the positive weight negatives/positives, capped so that a label seen
    once does not dominate the loss.
    """
    if problem_type == "single_label":
        counts = np.bincount(label_ids, minlength=num_labels).astype(np.float64)
        weights = len(label_ids) / (num_labels * np.maximum(counts, 1.0))
    elif problem_type == "binary":
        positives = float(np.sum(label_ids))
        weights = np.array([(len(label_ids) - positives) / max(positives, 1.0)])
    else:
        positives = label_matrix.sum(axis=0)
        weights = (len(label_matrix) - positives) / np.maximum(positives, 1.0)
    return torch.as_tensor(np.clip(weights, 0.01, 100.0), dtype=torch.float32)


def output_layer(model: nn.Module) -> nn.Linear:
    """The head's last linear layer: the one whose outputs are the logits (BERT's `classifier`,
    RoBERTa's `classifier.out_proj`, DistilBERT's `classifier`)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def probabilities(problem_type: str, logits: torch.Tensor) -> torch.Tensor:
    """Per-class probabilities; a binary head is widened to [P(negative), P(positive)]."""
    logits = logits.float()
    if problem_type == "single_label":
        return torch.softmax(logits, dim=-1)
    positive = torch.sigmoid(logits)
    if problem_type == "binary":
        return torch.cat([1.0 - positive, positive], dim=-1)
    return positive
