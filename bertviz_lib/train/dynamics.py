"""Training dynamics: how each training example's gold label fares, epoch after epoch.

Why: dataset cartography (Swayamdipta et al., 2020, "Dataset Cartography: Mapping and Diagnosing
Datasets with Training Dynamics", EMNLP) places every training example by numbers that fall out of
the training run itself: the probability the model gives the example's gold label at each epoch.
Its mean is the *confidence*, its standard deviation the *variability*, and the share of epochs
in which the model was right the *correctness*. Examples the model keeps giving a low probability,
epoch after epoch, are "hard to learn", and that is where mislabelled examples gather (their §5).
`bertviz_lib.insight.cartography` turns what is recorded here into that map.

How, at no cost to the loop:

- no extra forward pass: each training step already has its logits, and `outcomes` turns them, on
  the device, into three numbers per row (gold probability, right or wrong, predicted class);
- no extra host synchronisation per step: `record` keeps the step's tensor on the device beside
  the step's row indices (known on the host), and `end_epoch` brings the epoch's rows to the host
  in one copy, right before the evaluation, which waits for the device anyway;
- a replayed CUDA graph cannot return new tensors, so `graphed_step.GraphedStep` copies the
  outcomes into a static output tensor inside the graph, and its caller clones the real rows of
  that tensor (the filler rows, which weigh 0 in the loss, are dropped) after each replay;
- under DDP each rank sees its own share of the batches: `end_epoch` sums the ranks' rows into one
  table with one all-reduce per epoch, a count saying which rows some rank trained on.

The probabilities are those of the training forward pass (dropout on, weights of before the
step), as in the cartography paper's own code. A multi-label row's gold probability is the mean
of its gold labels' probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bertviz_lib.train import distributed

GOLD, RIGHT, PREDICTED = 0, 1, 2  # the columns of `outcomes`: P(gold), 1 if right, predicted id
OUTCOME_COLUMNS = 3  # how many numbers `outcomes` keeps per row
UNSEEN = -1  # the predicted class of a row no rank trained on in an epoch


def outcomes(
    problem_type: str, logits: torch.Tensor, targets: torch.Tensor, threshold: float
) -> torch.Tensor:
    """(rows, 3) float32 on the logits' device: P(gold label), 1.0 if the row is predicted right,
    the predicted class id. Device operations only (no `.item()`), so a CUDA graph can hold it.

    single_label: softmax, right when the argmax is the gold class. binary: the one sigmoid output
    is P(second label); right when it is on the gold side of 0.5 (the argmax of [1 - p, p], as
    everywhere else). multi_label: the mean probability of the gold labels (of "no label" where a
    row has none), right when every label is decided as gold at `threshold`; the predicted class
    is the most probable label.
    """
    logits = logits.detach().float()
    if problem_type == "single_label":
        probabilities = torch.softmax(logits, dim=-1)
        gold = probabilities.gather(1, targets.long()[:, None])[:, 0]
        predicted = probabilities.argmax(dim=-1)
        right = predicted == targets
    elif problem_type == "binary":
        positive = torch.sigmoid(logits[:, 0])
        truth = targets[:, 0].float()
        gold = torch.where(truth > 0.5, positive, 1.0 - positive)
        predicted = (positive > 0.5).long()
        right = predicted.float() == truth
    else:
        probabilities = torch.sigmoid(logits)
        truth = targets.float()
        gold_count = truth.sum(dim=-1)
        mean_gold = (probabilities * truth).sum(dim=-1) / gold_count.clamp(min=1.0)
        mean_none = (1.0 - probabilities).mean(dim=-1)
        gold = torch.where(gold_count > 0, mean_gold, mean_none)
        predicted = probabilities.argmax(dim=-1)
        right = ((probabilities >= threshold).float() == truth).all(dim=-1)
    return torch.stack([gold, right.float(), predicted.float()], dim=-1)


@dataclass
class Dynamics:
    """What the recorder kept, epoch by epoch: arrays of shape (epochs, training rows).

    A row no rank trained on in some epoch (DDP drops the few batches that would leave one rank a
    step more) holds NaN in `gold` and `right` and UNSEEN in `predicted` for that epoch.
    """

    gold: np.ndarray  # float: the probability of the gold label
    right: np.ndarray  # float: 1.0 right, 0.0 wrong
    predicted: np.ndarray  # int: the class the model predicted

    @property
    def epochs(self) -> int:
        return self.gold.shape[0]


class DynamicsRecorder:
    """Collects `outcomes` step by step and hands each finished epoch to the host at once."""

    def __init__(
        self, problem_type: str, rows: int, threshold: float, device: torch.device
    ) -> None:
        self.problem_type, self.rows, self.threshold = problem_type, rows, threshold
        self.device = device
        self._rows: list[Sequence[int]] = []
        self._outcomes: list[torch.Tensor] = []
        self._epochs: list[np.ndarray] = []  # (rows, 3) per finished epoch, NaN where unseen

    def outcomes(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """This run's `outcomes` (its problem type and threshold): what a step computes."""
        return outcomes(self.problem_type, logits, targets, self.threshold)

    def record(self, rows: Sequence[int], step_outcomes: torch.Tensor) -> None:
        """Keep one step's outcomes (one row each, in the order of `rows`) on the device.

        Cloned, because on the CUDA-graph path the tensor is a view of a static output that the
        next replay overwrites; the clone is queued on the device like the step itself.
        """
        self._rows.append(list(rows))
        self._outcomes.append(step_outcomes.detach().clone())

    def discard_epoch(self) -> None:
        """Forget the steps of an epoch that did not end (a cancel, a diverged loss)."""
        self._rows.clear()
        self._outcomes.clear()

    def end_epoch(self, ranks: distributed.Ranks) -> None:
        """Bring the epoch's outcomes to the host: one copy (and under DDP one all-reduce).

        This is the recorder's only host synchronisation, once per epoch.
        """
        table = np.full((self.rows, OUTCOME_COLUMNS), np.nan, dtype=np.float64)
        if ranks.several:
            table = self._gathered(ranks)
        elif self._outcomes:
            values = torch.cat(self._outcomes).cpu().numpy()
            table[np.concatenate([np.asarray(r, dtype=np.int64) for r in self._rows])] = values
        self._epochs.append(table)
        self.discard_epoch()

    def _gathered(self, ranks: distributed.Ranks) -> np.ndarray:
        """Every rank's rows in one table: values and a seen-count summed across ranks (the
        ranks' shares are disjoint, so each row's sum is its one rank's values)."""
        import torch.distributed as dist

        values = torch.zeros((self.rows, OUTCOME_COLUMNS), device=self.device)
        seen = torch.zeros(self.rows, device=self.device)
        if self._outcomes:
            flat = [i for rows in self._rows for i in rows]
            index = torch.as_tensor(flat, dtype=torch.long).to(self.device)
            values.index_copy_(0, index, torch.cat(self._outcomes).to(values.dtype))
            seen.index_fill_(0, index, 1.0)
        dist.all_reduce(values)
        dist.all_reduce(seen)
        table = values.cpu().double().numpy()
        table[seen.cpu().numpy() == 0] = np.nan
        return table

    def result(self) -> Dynamics | None:
        """Every finished epoch, or None before the first one ended."""
        if not self._epochs:
            return None
        stacked = np.stack(self._epochs)  # (epochs, rows, 3)
        predicted = np.where(np.isnan(stacked[..., PREDICTED]), UNSEEN, stacked[..., PREDICTED])
        return Dynamics(stacked[..., GOLD], stacked[..., RIGHT], predicted.astype(np.int64))
