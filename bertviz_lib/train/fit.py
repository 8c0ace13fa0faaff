"""Fine-tuning: the model, the loop, evaluation and the kept checkpoint.

`fit` is the whole loop and knows nothing of files; `run_training` wraps it with the run folder
(status, events, the saved model), and is what the command line and the Train page start. On one
CUDA GPU the steps replay captured CUDA graphs (`graphed_step.py`); elsewhere, and whenever that
path fails, they run eagerly (`train_step`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from bertviz_lib.config import LOWER_IS_BETTER, TrainConfig
from bertviz_lib.data import LabelledData
from bertviz_lib.metrics import classification_metrics
from bertviz_lib.model import heads
from bertviz_lib.model.predict import predict_logits
from bertviz_lib.train import batching, distributed
from bertviz_lib.train.dynamics import Dynamics
from bertviz_lib.train.events import EventSink, start_event, step_event
from bertviz_lib.train.faults import inject_fault, inject_stall
from bertviz_lib.train.setup import Setup, set_up
from bertviz_lib.train.step import Stepper


@dataclass
class Checkpoint:
    """The best evaluation so far, with the weights and validation probabilities that made it
    (and their logits, from which the calibration is fitted)."""

    score: float | None = None
    step: int = 0
    epoch: float = 0.0
    metrics: dict = field(default_factory=dict)
    state: dict | None = None
    probabilities: np.ndarray | None = None
    logits: np.ndarray | None = None


@dataclass
class TrainResult:
    model: torch.nn.Module
    tokenizer: object
    best: Checkpoint
    stopped: str  # "finished", "early_stopping", "cancelled" or "diverged"
    steps: int
    seconds: float
    samples_per_second: float
    dynamics: Dynamics | None = None  # each training row's outcome per finished epoch


def best_metric_name(config: TrainConfig, problem_type: str) -> str:
    if config.metric_for_best != "auto":
        return config.metric_for_best
    return "micro_f1" if problem_type == "multi_label" else "accuracy"


def evaluate(
    s: Setup, data: LabelledData, config: TrainConfig, should_stop: Callable[[], bool] | None = None
) -> tuple[dict, np.ndarray, np.ndarray] | tuple[None, None, None]:
    """Validation metrics, probabilities and logits of the network as it is now; (None, None, None)
    when `should_stop` turns true between two batches (a single process only: ranks must evaluate
    in step)."""
    inject_stall("evaluation")
    logits = predict_logits(
        s.network, s.validation_ids, s.pad_id, s.device,
        should_stop=None if s.ranks.several else should_stop,
    )  # fmt: skip
    if logits is None:
        return None, None, None
    probabilities = heads.probabilities(data.problem_type, torch.from_numpy(logits)).numpy()
    scores = classification_metrics(
        data.truth(), probabilities, data.label_names, data.problem_type, config.threshold
    )
    return scores, probabilities, logits


def fit(
    train_data: LabelledData,
    validation_data: LabelledData,
    config: TrainConfig,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fine-tune, evaluate after every epoch and keep the best checkpoint by `metric_for_best`."""
    s = set_up(train_data, validation_data, config)
    emit = on_event if on_event and s.ranks.main else (lambda event: None)
    stop_requested = should_stop or (lambda: False)
    rng = np.random.default_rng(config.seed)  # the same on every rank: the same buckets
    lengths = [len(x) for x in s.train_ids]
    step_on = Stepper(s, config, emit)
    log_every = max(1, s.steps_per_epoch // 25)
    metric_name = best_metric_name(config, train_data.problem_type)
    best, stale_evaluations, stopped, step, seen = Checkpoint(), 0, "finished", 0, 0
    emit(start_event(s, len(validation_data)))
    started = time.perf_counter()
    s.model.train()
    for epoch in range(1, config.epochs + 1):
        batches = distributed.share(
            batching.training_batches(lengths, config.batch_size, rng), s.ranks
        )
        for rows in batches:
            if distributed.any_rank(stop_requested(), s.ranks, s.device):
                stopped = "cancelled"
                break
            inject_fault(f"step:{step}")
            loss = step_on(rows)
            step, seen = step + 1, seen + len(rows) * s.ranks.world
            if step % log_every == 0 or step == s.total_steps:
                loss_value = loss.item()  # the only host synchronisation, every log_every steps
                emit(step_event(s, step, seen, loss_value, time.perf_counter() - started))
                if distributed.any_rank(not math.isfinite(loss_value), s.ranks, s.device):
                    stopped = "diverged"
                    break
        if stopped != "finished":
            s.dynamics.discard_epoch()  # an epoch cut short maps no row
            break
        # Each row's outcome this epoch comes to the host in one copy, just before the
        # evaluation, which waits for the device anyway (dynamics.py).
        s.dynamics.end_epoch(s.ranks)
        scores, probabilities, logits = evaluate(s, validation_data, config, stop_requested)
        if scores is None:
            stopped = "cancelled"
            break
        emit({"event": "evaluation", "step": step, "epoch": epoch, "metrics": scores})
        verdict = _compare(scores, best, metric_name)
        if verdict >= 0:
            score = scores[metric_name]
            state = _cpu_copy(s.network)
            best = Checkpoint(score, step, epoch, scores, state, probabilities, logits)
        stale_evaluations = 0 if verdict > 0 else stale_evaluations + 1
        if config.patience and stale_evaluations >= config.patience:
            stopped = "early_stopping"
            break
    seconds = time.perf_counter() - started
    if s.sparse_embedding is not None:
        s.sparse_embedding.release()
    if best.state is not None:
        s.network.load_state_dict(best.state)
    agree = distributed.weights_agree(s.network, s.ranks)  # every rank takes part
    if s.ranks.several:
        distributed.hold_until_exit(s.model)
    emit({"event": "end", "stopped": stopped, "steps": step, "seconds": seconds,
          "best_step": best.step, "best_epoch": best.epoch, "best_metric": metric_name,
          "best_score": best.score, "ranks": s.ranks.world, "ranks_agree": agree})  # fmt: skip
    rate = seen / max(seconds, 1e-9)
    dynamics = s.dynamics.result()
    return TrainResult(s.network, s.tokenizer, best, stopped, step, seconds, rate, dynamics)


def _compare(scores: dict, best: Checkpoint, metric_name: str) -> int:
    """1: better by the chosen metric; 0: tied but with a lower validation loss; -1: neither.

    A tie with a lower loss is kept as the checkpoint (the same accuracy, more confidently
    right) but does not count as progress for early stopping.
    """
    score = scores.get(metric_name)
    if score is None:
        return -1
    if best.state is None or best.score is None:
        return 1
    lower_is_better = metric_name in LOWER_IS_BETTER
    if score != best.score:
        return 1 if (score < best.score) == lower_is_better else -1
    loss, best_loss = scores.get("log_loss"), best.metrics.get("log_loss")
    tie_better = not lower_is_better and None not in (loss, best_loss) and loss < best_loss
    return 0 if tie_better else -1


def _cpu_copy(model) -> dict:
    return {
        name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()
    }
