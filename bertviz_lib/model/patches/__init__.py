"""Every change this project makes to the internals of transformers' models, and the one switch
that turns them all off.

- `cls_only`: the last encoder layer computes the [CLS] position alone wherever only the logits
  are read (training steps, batched prediction, the passes of attributions).
- `cpu_dropout`: dropout masks drawn from cheaper random bits, while training on a CPU.
- `sparse_embedding`: the word embedding's gradient covers only the rows a batch uses, for eager
  steps on one CPU.

Each is exact: the tests compare losses, gradients and logits with plain transformers (the CPU
dropout draws other masks from the same distribution). What each saves is measured in
docs/benchmarks.md. A saved model is a plain transformers model whatever the switch says.

The switch: `TrainConfig.fast_paths` (`train --no-fast-paths`) trains a run with none of them,
and the environment variable BERTVIZ_FAST_PATHS=0 turns them off for every model in the process,
prediction and explanations included: the way to rule them out when a result looks wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from bertviz_lib.model.patches.cls_only import compute_only_cls_in_last_layer
from bertviz_lib.model.patches.cpu_dropout import use_cpu_dropout
from bertviz_lib.model.patches.sparse_embedding import (
    SparseEmbeddingGradient,
    use_sparse_embedding_gradient,
)

FAST_PATHS_VARIABLE = "BERTVIZ_FAST_PATHS"  # "0" turns every patch off in this process


def enabled() -> bool:
    """False when BERTVIZ_FAST_PATHS=0 is set for this process."""
    return os.environ.get(FAST_PATHS_VARIABLE, "1").strip() != "0"


@dataclass
class TrainingPatches:
    """Which patches a training run's model got (all False when the switch is off)."""

    cls_only: bool = False
    cpu_dropout: bool = False
    sparse_embedding: SparseEmbeddingGradient | None = None


def patch_for_training(
    model: torch.nn.Module, device: torch.device, eager_on_one_cpu: bool, wanted: bool = True
) -> TrainingPatches:
    """Apply what fits this model and device; nothing when `wanted` is False or the process
    switch is off. The sparse gradient is for eager steps on one CPU only: DDP reduces dense
    gradients in buckets, and a graphed step keeps every gradient dense at a fixed address."""
    if not (wanted and enabled()):
        return TrainingPatches()
    return TrainingPatches(
        cls_only=compute_only_cls_in_last_layer(model),
        cpu_dropout=device.type == "cpu" and use_cpu_dropout(model),
        sparse_embedding=use_sparse_embedding_gradient(model) if eager_on_one_cpu else None,
    )


__all__ = ["FAST_PATHS_VARIABLE", "TrainingPatches", "enabled", "patch_for_training"]
