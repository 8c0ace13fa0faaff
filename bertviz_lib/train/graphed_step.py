"""The whole training step captured as a CUDA graph, one graph per batch shape, then replayed.

Why: fine-tuning a small BERT on a fast GPU is bound by the host launching kernels, not by the
GPU running them. One eager step (zero the gradients, forward under bf16 autocast, loss, backward,
clipping, fused AdamW) launches hundreds of kernels, each costing microseconds of Python and
driver time; captured once, the step replays with a single launch. A graph replays fixed shapes
at fixed addresses, so:

- every batch arrives as a `batching.FixedBatch`: padded to one of a few bucket widths and to the
  full batch size, the filler rows weighing 0 in the loss (`heads.row_weighted_loss`), and is
  copied into this shape's static tensors from pinned memory without blocking;
- the gradients are allocated once, outside every graph, and zeroed inside the step, so every
  graph and the eager steps share them; the optimizer is AdamW(capturable=True) with its learning
  rate a device tensor that the LambdaLR schedule fills in place between replays;
- dropout draws from the Philox generator that `torch.cuda.graph` advances at each replay;
- each row's outcome for the training dynamics (`dynamics.outcomes`: P(gold label), right or
  wrong, predicted class) is computed from the step's own logits inside the graph and copied into
  a static output tensor, one per row count, allocated outside every graph; after a replay the
  caller clones its real rows (`row_outcomes`), still on the device, and drops the fillers.

As PyTorch's CUDA-graph notes require, a shape is captured only after WARMUP_STEPS eager steps on
the side stream used for capture (they run the lazy initialisations: the optimizer's state,
cuBLAS workspaces); those are real steps on real batches, since a warm-up step moves the weights.
A shape seen fewer times (the rare widest batch) never pays for a capture. All graphs share one
memory pool: each step's temporaries die inside it and nothing a graph leaves alive lives in the
pool, so the graphs may replay in any order, one at a time on one stream.

Without capture (on a CPU, and in the tests) the same padded, weighted step runs eagerly, so the
computation the graphs replay is the one the tests check.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch

from bertviz_lib.devices import autocast
from bertviz_lib.model import heads
from bertviz_lib.train.batching import FixedBatch
from bertviz_lib.train.dynamics import OUTCOME_COLUMNS

WARMUP_STEPS = 3  # eager steps of a shape before its capture (PyTorch's examples use 3)
Shape = tuple[int, int]
Outcomes = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, targets) -> per row


class GraphedStep:
    """One optimisation step on a FixedBatch: replayed from a CUDA graph once its shape has been
    captured, eager before that (and always when `capture` is off)."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        loss_fn: torch.nn.Module,
        max_grad_norm: float,
        capture: bool,
        on_capture: Callable[[dict], None] = lambda event: None,
        outcomes: Outcomes | None = None,
    ) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loss_fn, self.max_grad_norm, self.capture = loss_fn, max_grad_norm, capture
        self.on_capture, self.outcomes = on_capture, outcomes
        self.device = next(model.parameters()).device
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]
        for parameter in self.parameters:  # fixed addresses, outside every graph's pool
            parameter.grad = torch.zeros_like(parameter)
        self.loss = torch.zeros((), device=self.device)  # the last step's loss
        self.scale = torch.ones((), device=self.device)  # 1, or NaN from a fault injection
        self.inputs: dict[Shape, FixedBatch] = {}
        self.outputs: dict[int, torch.Tensor] = {}  # rows -> the last step's outcomes per row
        self.last_rows = 0
        self.graphs: dict[Shape, torch.cuda.CUDAGraph] = {}
        self.eager_steps: Counter[Shape] = Counter()
        self.capture_seconds = 0.0
        if capture:
            self.stream = torch.cuda.Stream(self.device)
            self.pool = torch.cuda.graph_pool_handle()

    def __call__(self, batch: FixedBatch, scale: float = 1.0) -> torch.Tensor:
        """Train on `batch`; the loss (times `scale`) is returned on the device, unread."""
        inputs = self._static_inputs(batch)
        self.scale.fill_(scale)
        self.last_rows = batch.shape[0]
        if self.outcomes is not None and self.last_rows not in self.outputs:
            self.outputs[self.last_rows] = torch.zeros(
                (self.last_rows, OUTCOME_COLUMNS), device=self.device
            )  # outside every graph, at an address the graphs of this row count write to
        graph = self.graphs.get(batch.shape)
        if graph is not None:
            graph.replay()
        elif not self.capture:
            self._compute(inputs)
        elif self.eager_steps[batch.shape] < WARMUP_STEPS:
            self._warm_up(inputs)
            self.eager_steps[batch.shape] += 1
        else:
            self._capture(batch.shape, inputs).replay()
        self.scheduler.step()
        return self.loss.clone()

    def row_outcomes(self, real_rows: int) -> torch.Tensor:
        """The last step's outcomes of its first `real_rows` rows (the fillers come after them),
        cloned on the device: the next replay overwrites the static output."""
        return self.outputs[self.last_rows][:real_rows].clone()

    def release(self) -> None:
        """Drop the graphs and their memory before the eager path takes over; first wait for
        the side stream, which may still be reading tensors that are about to be freed."""
        if self.capture:
            torch.cuda.synchronize(self.device)
        self.graphs.clear()
        self.inputs.clear()
        self.outputs.clear()

    def _static_inputs(self, batch: FixedBatch) -> FixedBatch:
        inputs = self.inputs.get(batch.shape)
        if inputs is None:
            inputs = FixedBatch(*(t.to(self.device, copy=True) for t in batch.tensors()))
            self.inputs[batch.shape] = inputs
            return inputs
        for static, new in zip(inputs.tensors(), batch.tensors(), strict=True):
            static.copy_(new, non_blocking=True)
        return inputs

    def _compute(self, inputs: FixedBatch) -> None:
        """The step itself: what a graph captures, and what runs eagerly."""
        self.optimizer.zero_grad(set_to_none=False)
        with autocast(self.device, cache=False):
            logits = self.model(
                input_ids=inputs.input_ids, attention_mask=inputs.attention_mask
            ).logits
        loss = heads.row_weighted_loss(self.loss_fn, logits.float(), inputs.targets, inputs.weights)
        loss = loss * self.scale
        if self.outcomes is not None:
            rows = inputs.input_ids.shape[0]
            self.outputs[rows].copy_(self.outcomes(logits.detach(), inputs.targets))
        loss.backward()
        if self.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.loss.copy_(loss.detach())

    def _warm_up(self, inputs: FixedBatch) -> None:
        """An eager step on the capture stream, ordered after and before the main stream's work."""
        main = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(main)
        with torch.cuda.stream(self.stream):
            self._compute(inputs)
        main.wait_stream(self.stream)

    def _capture(self, shape: Shape, inputs: FixedBatch) -> torch.cuda.CUDAGraph:
        """Record the step for `shape` (recording runs nothing: the caller replays it)."""
        started = time.perf_counter()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool, stream=self.stream):
            self._compute(inputs)
        self.graphs[shape] = graph
        seconds = time.perf_counter() - started
        self.capture_seconds += seconds
        self.on_capture(
            {"event": "cuda_graph", "rows": shape[0], "width": shape[1],
             "capture_seconds": seconds, "graphs": len(self.graphs),
             "total_capture_seconds": self.capture_seconds}
        )  # fmt: skip
        return graph


def capture_summary(events: list[dict]) -> tuple[int, float, str | None]:
    """From a run's events: graphs captured, seconds spent capturing, and why the graphs were
    turned off (None if they never were)."""
    captures = [e["capture_seconds"] for e in events if e["event"] == "cuda_graph"]
    off = [e["message"] for e in events if e["event"] == "cuda_graphs_off"]
    return len(captures), sum(captures, 0.0), off[0] if off else None
