"""Faults injected on purpose, so the tests can show what a user sees when training breaks.

`BERTVIZ_INJECT_FAULT` names one: `step:N` raises at step N, `save` while saving the model,
`oom_above:N` runs out of memory on a micro-batch of more than N rows, `nan_from:N` makes the loss
NaN from step N on, `stall:evaluation` and `stall:save` hang there (a stand-in for an evaluation or
a save that takes minutes). Unset, every function here does nothing.
"""

from __future__ import annotations

import os
import sys
import time

import torch

FAULT_VARIABLE = "BERTVIZ_INJECT_FAULT"  # step:N, save, oom_above:N, nan_from:N, stall:WHERE
STALL_SECONDS = 600.0


def inject_fault(where: str) -> None:
    if os.environ.get(FAULT_VARIABLE) == where:
        raise RuntimeError(f"Injected fault ({FAULT_VARIABLE}={where}).")


def poison(step: int) -> float:
    """BERTVIZ_INJECT_FAULT=nan_from:N: the loss is NaN from step N on (1.0 otherwise)."""
    setting = os.environ.get(FAULT_VARIABLE, "")
    if setting.startswith("nan_from:") and step >= int(setting.split(":")[1]):
        return float("nan")
    return 1.0


def inject_out_of_memory(rows: int) -> None:
    """BERTVIZ_INJECT_FAULT=oom_above:N: a micro-batch of more than N rows runs out of memory."""
    setting = os.environ.get(FAULT_VARIABLE, "")
    if setting.startswith("oom_above:") and rows > int(setting.split(":")[1]):
        raise torch.OutOfMemoryError(f"Injected out of memory ({rows} rows).")


def inject_stall(where: str) -> None:
    """BERTVIZ_INJECT_FAULT=stall:WHERE: sleep here for ten minutes, saying so on stderr first, so a
    test can send SIGTERM while the process is stuck in a long evaluation or save."""
    if os.environ.get(FAULT_VARIABLE) == f"stall:{where}":
        print(f"Injected stall ({where}).", file=sys.stderr, flush=True)
        time.sleep(STALL_SECONDS)
