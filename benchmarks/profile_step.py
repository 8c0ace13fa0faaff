"""Where a training step's time goes on this device: the host building a batch, the GPU running
a replayed graph, and an eager step's kernels, measured apart (`python -m benchmarks --part
profile`). If a step takes about what its replay takes on the GPU, the loop is GPU-bound; if it
takes about what the host spends building the batch, the host bounds it (data loading); an eager
step much slower than a replay is launch-bound, which is what the graphs remove.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections import Counter

import numpy as np
import torch

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import LabelledData
from bertviz_lib.train import batching
from bertviz_lib.train.setup import set_up
from bertviz_lib.train.step import Stepper

from .throughput import BATCH_SIZE, LEARNING_RATE, MAX_LENGTH

TIMED_STEPS = 200  # steps timed end to end, after every shape of the data has been seen once
REPLAYS = 20  # replays of each captured graph timed with CUDA events
PROFILED_EAGER_STEPS = 5  # eager steps under torch.profiler


def profile(data: LabelledData, model: str = "bundled") -> dict:
    """Milliseconds per step: batch building on the host, a whole graphed step, one replay on the
    GPU (weighted by how often each width occurs), an eager step; and the eager step's top
    operators by device time."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU: there are no graphs to profile"}
    config = TrainConfig(batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, epochs=1,
                         max_length=MAX_LENGTH, model=model, warmup_ratio=0.06)  # fmt: skip
    validation = data.subset(range(min(64, len(data))))
    s = set_up(data, validation, config)
    events: list[dict] = []
    step = Stepper(s, config, events.append)
    lengths = [len(x) for x in s.train_ids]
    batches = batching.training_batches(lengths, BATCH_SIZE, np.random.default_rng(0))
    s.model.train()
    for rows in batches:  # every shape warmed up and captured
        step(rows)
    timed = batches[:TIMED_STEPS]
    widths = batching.bucket_widths(MAX_LENGTH)
    started = time.perf_counter()
    for rows in timed:
        batching.fixed_batch([s.train_ids[i] for i in rows], s.targets[rows], s.pad_id,
                             BATCH_SIZE, widths, pin=True)  # fmt: skip
    host_ms = 1000 * (time.perf_counter() - started) / len(timed)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for rows in timed:
        step(rows)
    torch.cuda.synchronize()
    step_ms = 1000 * (time.perf_counter() - started) / len(timed)
    replay_ms = _replay_ms(step.graphed.graphs if step.graphed else {})
    used = Counter(batching.bucket_width(max(lengths[i] for i in rows), widths) for rows in timed)
    weighted = sum(replay_ms.get(w, 0.0) * n for w, n in used.items()) / sum(used.values())
    eager_ms, top = _eager(data, validation, config, timed)
    return {
        "device": torch.cuda.get_device_name(0),
        "graphs": sorted(replay_ms),
        "host_batch_ms": host_ms,
        "graphed_step_ms": step_ms,
        "replay_gpu_ms_by_width": replay_ms,
        "replay_gpu_ms_weighted": weighted,
        "eager_step_ms": eager_ms,
        "eager_top_operators": top,
        "verdict": _verdict(host_ms, step_ms, weighted, eager_ms),
    }


def _replay_ms(graphs: dict) -> dict[int, float]:
    times = {}
    for (_, width), graph in graphs.items():
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(REPLAYS):
            graph.replay()
        end.record()
        torch.cuda.synchronize()
        times[width] = start.elapsed_time(end) / REPLAYS
    return times


def _eager(data, validation, config, timed) -> tuple[float, list[dict]]:
    s = set_up(data, validation, dataclasses.replace(config, cuda_graphs=False))
    step = Stepper(s, config, lambda event: None)
    s.model.train()
    for rows in timed[:10]:  # warm-up
        step(rows)
    torch.cuda.synchronize()
    seconds = []
    for rows in timed[10:60]:
        started = time.perf_counter()
        step(rows)
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profiler:
        for rows in timed[60 : 60 + PROFILED_EAGER_STEPS]:
            step(rows)
        torch.cuda.synchronize()
    averages = sorted(profiler.key_averages(), key=lambda a: -a.self_device_time_total)[:10]
    top = [{"name": a.key, "calls": a.count, "device_ms": a.self_device_time_total / 1000,
            "cpu_ms": a.self_cpu_time_total / 1000} for a in averages]  # fmt: skip
    return 1000 * statistics.median(seconds), top


def _verdict(host_ms: float, step_ms: float, replay_ms: float, eager_ms: float) -> str:
    if step_ms < 1.3 * replay_ms:
        bound = "GPU-bound: a graphed step takes about what its replay runs on the GPU"
    elif step_ms < 1.3 * host_ms + replay_ms:
        bound = "host-bound: building each batch on the host (data loading) takes most of a step"
    else:
        bound = "bound by Python and launches between the replays"
    return (f"{bound}; an eager step takes {eager_ms / max(step_ms, 1e-9):.1f}x a graphed one "
            f"({eager_ms:.2f} against {step_ms:.2f} ms)")  # fmt: skip
