"""The events a training run emits, one JSON object per line of the run's `metrics.jsonl`: what the
Train page draws, the CLI prints and the benchmarks read. Every event is built here, except the
evaluation, cuda_graph and end events, which carry what only the loop knows.
"""

from __future__ import annotations

from collections.abc import Callable

from bertviz_lib.devices import describe
from bertviz_lib.train.setup import Setup

EventSink = Callable[[dict], None]


def start_event(s: Setup, validation_rows: int) -> dict:
    trainable = sum(p.numel() for p in s.network.parameters() if p.requires_grad)
    return {"event": "start", "device": describe(s.device), "total_steps": s.total_steps,
            "train_rows": len(s.train_ids), "validation_rows": validation_rows,
            "trainable_parameters": trainable, "cls_only_last_layer": s.cls_only,
            "cpu_dropout": s.cpu_dropout,
            "sparse_embedding_gradient": s.sparse_embedding is not None}  # fmt: skip


def step_event(s: Setup, step: int, seen: int, loss: float, elapsed: float) -> dict:
    return {"event": "step", "step": step, "total_steps": s.total_steps,
            "epoch": step / s.steps_per_epoch, "loss": loss,
            "learning_rate": float(s.scheduler.get_last_lr()[0]),  # a tensor on the graphed path
            "samples_per_second": seen / elapsed,
            "eta_seconds": elapsed / step * (s.total_steps - step)}  # fmt: skip


def memory_event(s: Setup, rows: int) -> dict:
    size = -(-rows // s.micro_batches)
    message = (
        f"Out of memory: each batch of {rows} now runs as {s.micro_batches} micro-batches of "
        f"about {size}, their gradients added up (the same effective batch)."
    )
    return {"event": "memory", "micro_batches": s.micro_batches, "message": message}
