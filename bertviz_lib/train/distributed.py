"""Several GPUs (or several CPU processes) through `torchrun --nproc_per_node N`.

The training entry runs unchanged: torchrun sets RANK, WORLD_SIZE and LOCAL_RANK, and the loop
wraps the model in DistributedDataParallel, which averages the gradients of every step across
ranks. Each rank trains on its own share of the length buckets. Every rank evaluates the whole
validation set on identical weights, so every rank reaches the same early-stopping decision
without talking; the decisions that can differ (a Cancel, a loss that is no longer finite on one
rank's batch) are agreed on before anyone acts. Only rank 0 writes the run folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        """The one process that writes files and prints."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world > 1


def from_environment() -> Ranks:
    """What torchrun says about this process; a plain run is rank 0 of 1."""
    return Ranks(
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def start(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the process group: NCCL on GPUs (one per local rank), gloo on CPUs."""
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


_HELD_UNTIL_EXIT: list = []


def hold_until_exit(model: torch.nn.Module) -> None:
    """Keep the process group, and the DDP wrapper that holds it, until the process ends.

    Why not free it: in PyTorch 2.13 freeing a gloo group joins its worker threads while holding
    the GIL, and a worker that still holds the last collective's work must take the GIL to free
    that work's tensors (made in Python). Rank 1 hung there, in CI, twice. So a torchrun rank
    never frees the group: it ends through `leave`, which skips every destructor.
    """
    _HELD_UNTIL_EXIT.append(model)


def leave(code: int) -> None:
    """End a torchrun rank at once, after flushing what it printed (see `hold_until_exit`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def share(batches: list, ranks: Ranks) -> list:
    """This rank's batches: every world-th one, after dropping the few (fewer than `world`)
    that would leave one rank a step more than another and stall the others at the all-reduce."""
    usable = len(batches) - len(batches) % ranks.world
    return batches[ranks.rank : usable : ranks.world]


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when it is true on one, so all ranks act on it at the same step."""
    if not ranks.several:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def weights_agree(model: torch.nn.Module, ranks: Ranks) -> bool:
    """Whether every rank holds bit-identical weights, as DistributedDataParallel promises."""
    if not ranks.several:
        return True
    digests: list = [None] * ranks.world
    dist.all_gather_object(digests, weights_digest(model))
    return len(set(digests)) == 1
