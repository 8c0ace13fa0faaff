"""Whether the replayed CUDA graphs train to the weights the eager steps reach: the check that the
CPU tests cannot make, since only a GPU captures and replays (`python -m benchmarks --part
graphs`).

Two copies of the model start from the same weights and take the same batches, one through the
eager `train_step` (batches padded to a multiple of 8), the other through the captured graphs
(batches padded to bucket widths, filler rows weighing 0). Dropout is off in both: a replayed
graph draws its masks from other Philox offsets than the eager steps, so with dropout on the two
would differ by design. What is left to differ is the rounding of bf16 on differently padded
shapes, which grows slowly over the steps; the losses step by step and the weights at the end
are reported, not judged, since what is close enough for bf16 is read beside the loss. Without
a GPU no graph is captured, and the check says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import LabelledData
from bertviz_lib.train import batching
from bertviz_lib.train.graphed_step import capture_summary
from bertviz_lib.train.setup import set_up
from bertviz_lib.train.step import Stepper


def graphed_against_eager(
    data: LabelledData, steps: int, model: str = "bundled", device: str = "auto"
) -> dict:
    """Train `steps` batches of 32 both ways and compare losses and weights."""
    config = TrainConfig(batch_size=32, learning_rate=5e-5, max_length=128, epochs=1,
                         model=model, device=device, dropout=0.0)  # fmt: skip
    validation = data.subset(range(min(64, len(data))))
    eager = set_up(data, validation, dataclasses.replace(config, cuda_graphs=False))
    graphed = set_up(data, validation, config)
    graphed.network.load_state_dict(eager.network.state_dict())
    events: list[dict] = []
    stepped = [Stepper(eager, config, events.append), Stepper(graphed, config, events.append)]
    lengths = [len(x) for x in eager.train_ids]
    batches = batching.training_batches(lengths, 32, np.random.default_rng(0))[:steps]
    losses = [[float(step(rows)) for step in stepped] for rows in batches]
    graphs, capture_seconds, off = capture_summary(events)
    for stepped_setup in (eager, graphed):  # each row's P(gold) as each path recorded it
        stepped_setup.dynamics.end_epoch(stepped_setup.ranks)
    gold = [s.dynamics.result().gold[0] for s in (eager, graphed)]
    pairs = list(zip(*_weights(eager, graphed), strict=True))
    apart = torch.cat([(a - b).flatten() for a, b in pairs])
    return {
        "device": str(eager.device),
        "steps": len(batches),
        "graphs": graphs,
        "capture_seconds": capture_seconds,
        "cuda_graphs_off": off,
        "cuda_graphs_off_traceback": next(
            (e["traceback"] for e in events if e["event"] == "cuda_graphs_off"), None
        ),
        "losses_eager_graphed": losses,
        "largest_loss_gap": max(abs(a - b) for a, b in losses),
        # Beside the learning rate: no weight moves by more than about it in one AdamW step.
        "largest_weight_gap": float(apart.abs().max()),
        "relative_weight_gap": float(
            apart.norm() / torch.cat([a.flatten() for a, _ in pairs]).norm()
        ),
        # The training dynamics read from the graphs' static output against the eager logits'.
        "rows_recorded_eager_graphed": [int((~np.isnan(g)).sum()) for g in gold],
        "largest_gold_probability_gap": float(np.nanmax(np.abs(gold[0] - gold[1]))),
    }


def _weights(*setups) -> list[list[torch.Tensor]]:
    return [[t.float() for t in s.network.state_dict().values()] for s in setups]
