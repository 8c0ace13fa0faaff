"""One optimisation step: eager (`train_step`, cutting the batch into micro-batches when memory
runs out) or replayed from a CUDA graph (`graphed_step.py`); `Stepper` picks, and falls back.
"""

from __future__ import annotations

import traceback

import numpy as np
import torch

from bertviz_lib.config import TrainConfig
from bertviz_lib.devices import autocast
from bertviz_lib.train import batching
from bertviz_lib.train.events import EventSink, memory_event
from bertviz_lib.train.faults import inject_out_of_memory, poison
from bertviz_lib.train.graphed_step import GraphedStep
from bertviz_lib.train.setup import Setup

OUT_OF_MEMORY = (
    "Out of memory even with one text per micro-batch (or on several GPUs, where the ranks must "
    "keep the same steps): lower max_length or the batch size, or pick a smaller model."
)


class TrainingError(RuntimeError):
    """Training could not go on; the message is shown to the user as it is."""


def train_step(
    s: Setup, rows: list[int], batch: dict, config: TrainConfig, emit: EventSink | None = None
) -> torch.Tensor:
    """One optimisation step; the loss stays on the device so that no step waits for the host.

    Out of memory, the batch is cut into twice as many micro-batches whose gradients add up to
    the same step (the effective batch is kept), and `emit` is told; the later steps keep the cut.
    Each row's outcome (dynamics.py) is recorded from the same forward pass, once the step's
    gradients are all there, so a retried step records its rows once.
    """
    while True:
        try:
            loss, row_outcomes = _gradients(s, rows, batch, s.micro_batches)
            break
        except torch.OutOfMemoryError:
            s.optimizer.zero_grad(set_to_none=True)
            if s.ranks.several or s.micro_batches >= len(rows):
                raise TrainingError(OUT_OF_MEMORY) from None
            s.micro_batches *= 2
            if s.device.type == "cuda":
                torch.cuda.empty_cache()
            if emit:
                emit(memory_event(s, len(rows)))
    if s.sparse_embedding is not None:
        s.sparse_embedding.clip_and_densify(s.model.parameters(), config.max_grad_norm)
    elif config.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), config.max_grad_norm, foreach=True)
    s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    s.dynamics.record(rows, torch.cat(row_outcomes))
    return loss


def _gradients(
    s: Setup, rows: list[int], batch: dict, pieces: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Forward and backward over the batch in `pieces` micro-batches; each loss is weighted by
    its share of the rows, so the gradients add up to those of the whole batch. Also returns the
    rows' outcomes (dynamics.py) from the same logits, in the order of `rows`, on the device."""
    total = torch.zeros((), device=s.device)
    row_outcomes = []
    parts = np.array_split(np.arange(len(rows)), min(pieces, len(rows)))
    for part in parts:
        inject_out_of_memory(len(part))
        chosen = {k: v[part] for k, v in batch.items()} if pieces > 1 else batch
        micro = {k: v.to(s.device, non_blocking=True) for k, v in chosen.items()}
        with autocast(s.device):
            logits = s.model(**micro).logits
        targets = s.targets[[rows[i] for i in part]].to(s.device, non_blocking=True)
        loss = (
            s.loss_fn(logits.float(), targets)
            * (len(part) / len(rows))
            * poison(s.scheduler.last_epoch)
        )
        loss.backward()
        total += loss.detach()
        row_outcomes.append(s.dynamics.outcomes(logits, targets))
    return total, row_outcomes


class Stepper:
    """The step `fit` runs on a batch of row indices: a replayed CUDA graph while that path works,
    the eager `train_step` otherwise.

    The first failure on the graphed path (a capture error, running out of memory) is said in an
    event and hands that step and every later one to the eager path, which cuts batches into
    micro-batches on out-of-memory errors as usual.
    """

    def __init__(self, s: Setup, config: TrainConfig, emit: EventSink) -> None:
        self.s, self.config, self.emit = s, config, emit
        self.widths = batching.bucket_widths(config.max_length)
        self.graphed: GraphedStep | None = None
        if s.cuda_graphs:
            self.graphed = GraphedStep(
                s.network, s.optimizer, s.scheduler, s.loss_fn, config.max_grad_norm,
                capture=s.device.type == "cuda", on_capture=emit,
                outcomes=s.dynamics.outcomes,
            )  # fmt: skip

    def __call__(self, rows: list[int]) -> torch.Tensor:
        if self.graphed is not None:
            try:
                return self._graphed_step(rows)
            except RuntimeError as error:  # torch.OutOfMemoryError included
                self._fall_back(error)
        s = self.s
        padding = batching.padding_multiple(s.device)
        batch = batching.collate([s.train_ids[i] for i in rows], s.pad_id, padding)
        return train_step(s, rows, batch, self.config, self.emit)

    def _graphed_step(self, rows: list[int]) -> torch.Tensor:
        s, rows_per_step = self.s, self.config.batch_size
        inject_out_of_memory(rows_per_step)
        batch = batching.fixed_batch(
            [s.train_ids[i] for i in rows], s.targets[rows], s.pad_id, rows_per_step,
            self.widths, pin=s.device.type == "cuda",
        )  # fmt: skip
        loss = self.graphed(batch, poison(s.scheduler.last_epoch))
        # the real rows of the graph's static output; the fillers are dropped
        s.dynamics.record(rows, self.graphed.row_outcomes(len(rows)))
        return loss

    def _fall_back(self, error: RuntimeError) -> None:
        self.graphed.release()
        self.graphed = None
        self.s.optimizer.zero_grad(set_to_none=True)  # the eager step adds into empty gradients
        if self.s.device.type == "cuda":
            torch.cuda.empty_cache()
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = f"CUDA graphs stopped ({reason}); the steps run eagerly from here on."
        where = traceback.format_exc(limit=-8)  # called inside the except: the failing frames
        self.emit({"event": "cuda_graphs_off", "error": reason, "message": message,
                   "traceback": where})  # fmt: skip
