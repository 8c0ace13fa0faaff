"""Where tensors live: picking the device, using every CPU core, bf16 autocast on CUDA."""

from __future__ import annotations

import os

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def use_all_cores() -> None:
    """PyTorch may start with fewer threads than the cores this process is allowed to use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, cores or 1))


def autocast(device: torch.device, cache: bool = True):
    """bf16 on CUDA (no loss scaling needed); full precision elsewhere.

    `cache=False` for a step captured as a CUDA graph: autocast's cache of bf16 weight copies
    could hold tensors of the graph's private memory past the capture (PyTorch requires it off
    for `make_graphed_callables` for that reason); each weight is cast once a step anyway.
    """
    enabled = device.type == "cuda"
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled, cache_enabled=cache)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
