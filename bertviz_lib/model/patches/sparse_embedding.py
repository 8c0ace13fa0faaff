"""The word embedding's gradient on the CPU, computed for the rows a batch uses and no others.

Why: a batch of 32 SST-2 texts uses about 300 of the word embedding's 30,522 rows, yet its dense
gradient is a 47 MB tensor that every step fills with zeros, reads for the norm that clipping needs
and scales, a visible share of a CPU step (docs/benchmarks.md). Here the embedding hands autograd
a sparse gradient (the used rows alone); clipping reads and scales those rows; and they are
written into a dense buffer kept from step to step, in which only the rows the previous step
wrote are zeroed.

AdamW still gets a dense gradient: it decays every row's moments, used or not, so the step is the
one it would take with the dense gradient. The rows are summed in another order, so the weights
agree to float rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SparseEmbeddingGradient:
    """Makes `embedding` give sparse gradients until `release`; `clip_and_densify` turns each
    step's sparse gradient into the dense one the optimizer reads."""

    def __init__(self, embedding: torch.nn.Embedding) -> None:
        embedding.sparse = True
        self.embedding = embedding
        self.dense = torch.zeros_like(embedding.weight)
        self.written: torch.Tensor | None = None  # rows of `dense` the previous step wrote

    def clip_and_densify(self, parameters: Iterable[torch.nn.Parameter], max_norm: float) -> None:
        """Clip all gradients by their total norm, as `clip_grad_norm_` does (none when
        `max_norm` is 0), then give the embedding weight its dense gradient."""
        weight = self.embedding.weight
        sparse = weight.grad.coalesce()  # a row used twice appears once, its gradients summed
        rows, values = sparse.indices()[0], sparse.values()
        if max_norm > 0:
            grads = [p.grad for p in parameters if p.grad is not None and p is not weight]
            grads.append(values)
            total = torch.nn.utils.get_total_norm(grads, foreach=True)
            torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
        if self.written is not None:
            self.dense[self.written] = 0
        self.dense[rows] = values
        self.written = rows
        weight.grad = self.dense

    def release(self) -> None:
        """Dense gradients again, as in a freshly loaded model."""
        self.embedding.sparse = False


def use_sparse_embedding_gradient(model: torch.nn.Module) -> SparseEmbeddingGradient | None:
    """For `model`'s word embedding, when it is trained; None when it is frozen or is not a
    plain `nn.Embedding`."""
    embedding = model.get_input_embeddings()
    if type(embedding) is not torch.nn.Embedding or not embedding.weight.requires_grad:
        return None
    return SparseEmbeddingGradient(embedding)
