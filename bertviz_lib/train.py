"""Fine-tuning: the model, the loop, evaluation and the kept checkpoint.

`fit` is the whole loop and knows nothing of files; `run_training` wraps it with the run folder
(status, events, the saved model), and is what the command line and the Train page start. On one
CUDA GPU the steps replay captured CUDA graphs (`graphed_step.py`); elsewhere, and whenever that
path fails, they run eagerly (`train_step`).
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import backbones, batching, distributed, heads
from .cls_only import compute_only_cls_in_last_layer
from .config import LOWER_IS_BETTER, TrainConfig
from .cpu_dropout import use_cpu_dropout
from .data import LabelledData
from .devices import autocast, describe, resolve_device, use_all_cores
from .graphed_step import GraphedStep
from .metrics import classification_metrics, prediction_ids
from .predict import predict_probabilities
from .sparse_embedding import SparseEmbeddingGradient, use_sparse_embedding_gradient

EventSink = Callable[[dict], None]
FAULT_VARIABLE = "BERTVIZ_INJECT_FAULT"  # step:N, save, oom_above:N, nan_from:N (fault tests)
OUT_OF_MEMORY = (
    "Out of memory even with one text per micro-batch (or on several GPUs, where the ranks must "
    "keep the same steps): lower max_length or the batch size, or pick a smaller model."
)


class TrainingError(RuntimeError):
    """Training could not go on; the message is shown to the user as it is."""


@dataclass
class Checkpoint:
    """The best evaluation so far, with the weights and validation probabilities that made it."""

    score: float | None = None
    step: int = 0
    epoch: float = 0.0
    metrics: dict = field(default_factory=dict)
    state: dict | None = None
    probabilities: np.ndarray | None = None


@dataclass
class TrainResult:
    model: torch.nn.Module
    tokenizer: object
    best: Checkpoint
    stopped: str  # "finished", "early_stopping", "cancelled" or "diverged"
    steps: int
    seconds: float
    samples_per_second: float


def best_metric_name(config: TrainConfig, problem_type: str) -> str:
    if config.metric_for_best != "auto":
        return config.metric_for_best
    return "micro_f1" if problem_type == "multi_label" else "accuracy"


def build_model(config: TrainConfig, label_names: list[str], problem_type: str):
    """The backbone with a head sized for the labels; label names live in the model's config."""
    outputs = heads.output_size(problem_type, len(label_names))
    head_labels = label_names[1:] if problem_type == "binary" else label_names
    hf_config = backbones.load_config(
        config.model,
        num_labels=outputs,
        id2label=dict(enumerate(head_labels)),
        label2id={name: i for i, name in enumerate(head_labels)},
        problem_type=heads.HF_PROBLEM_TYPES[problem_type],
    )
    hf_config.bertviz_label_names = list(label_names)
    hf_config.bertviz_problem_type = problem_type
    hf_config.bertviz_threshold = config.threshold
    hf_config.bertviz_max_length = config.max_length
    if config.dropout is not None:
        for name in (
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "classifier_dropout",
            "dropout",
            "attention_dropout",
            "seq_classif_dropout",
        ):
            if hasattr(hf_config, name):
                setattr(hf_config, name, config.dropout)
    model = backbones.load_classifier(config.model, hf_config)
    freeze(model, config)
    return model


def freeze(model, config: TrainConfig) -> None:
    """Freeze the whole encoder (head only), or its embeddings and first N layers."""
    encoder = model.base_model
    if config.head_only:
        encoder.requires_grad_(False)
        return
    if config.freeze_layers <= 0:
        return
    encoder.embeddings.requires_grad_(False)
    layers = encoder.encoder.layer if hasattr(encoder, "encoder") else encoder.transformer.layer
    for layer in layers[: config.freeze_layers]:
        layer.requires_grad_(False)


def start_at_base_rates(model, data: LabelledData) -> None:
    """Set sigmoid heads' biases to each label's log-odds in the training data.

    With many rare labels a zero bias starts every label at 50%, and the first epochs are spent
    only learning that most labels are absent; starting at the base rates skips that.
    """
    targets = (
        data.label_matrix() if data.problem_type == "multi_label" else data.label_ids()[:, None]
    )
    rates = np.clip(targets.mean(axis=0), 1e-4, 1 - 1e-4)
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.bias.copy_(torch.as_tensor(np.log(rates / (1 - rates)), dtype=head.bias.dtype))


def make_optimizer(
    model, config: TrainConfig, device: torch.device, capturable: bool = False
) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and normalisation weights; the fused kernel (CUDA
    and CPU) updates all parameters in one pass, 4x faster than the default on 2 CPU cores.

    `capturable` (for CUDA graphs) keeps the step counts and the learning rate in device tensors,
    which a replayed graph reads and the schedule fills in place."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decayed = [p for n, p in trainable if p.ndim >= 2]
    undecayed = [p for n, p in trainable if p.ndim < 2]
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    lr = torch.tensor(config.learning_rate, device=device) if capturable else config.learning_rate
    return torch.optim.AdamW(groups, lr=lr, fused=fused, capturable=capturable)


def warmup_then_linear(optimizer, warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def training_targets(data: LabelledData) -> torch.Tensor:
    if data.problem_type == "multi_label":
        return heads.targets("multi_label", None, data.label_matrix())
    return heads.targets(data.problem_type, data.label_ids(), None)


def true_labels(data: LabelledData) -> np.ndarray:
    return data.label_matrix() if data.problem_type == "multi_label" else data.label_ids()


def inject_fault(where: str) -> None:
    if os.environ.get(FAULT_VARIABLE) == where:
        raise RuntimeError(f"Injected fault ({FAULT_VARIABLE}={where}).")


def poison(s: Setup) -> float:
    """BERTVIZ_INJECT_FAULT=nan_from:N: the loss is NaN from step N on (1.0 otherwise)."""
    setting = os.environ.get(FAULT_VARIABLE, "")
    if setting.startswith("nan_from:") and s.scheduler.last_epoch >= int(setting.split(":")[1]):
        return float("nan")
    return 1.0


def inject_out_of_memory(rows: int) -> None:
    """BERTVIZ_INJECT_FAULT=oom_above:N: a micro-batch of more than N rows runs out of memory."""
    setting = os.environ.get(FAULT_VARIABLE, "")
    if setting.startswith("oom_above:") and rows > int(setting.split(":")[1]):
        raise torch.OutOfMemoryError(f"Injected out of memory ({rows} rows).")


@dataclass
class Setup:
    """Everything the loop needs, built once before the first step."""

    device: torch.device
    tokenizer: object
    model: torch.nn.Module  # what the step calls: the network, or DDP around it on several ranks
    network: torch.nn.Module  # the network itself: evaluated, copied and saved
    ranks: distributed.Ranks
    pad_id: int
    train_ids: list[list[int]]
    validation_ids: list[list[int]]
    targets: torch.Tensor
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    steps_per_epoch: int
    total_steps: int
    micro_batches: int = 1  # raised after an out-of-memory error, kept for the later steps
    cuda_graphs: bool = False  # the steps start on the CUDA-graph path
    cls_only: bool = False  # the last layer computes [CLS] alone while training (cls_only.py)
    cpu_dropout: bool = False  # dropout from cheaper random bits on the CPU (cpu_dropout.py)
    sparse_embedding: SparseEmbeddingGradient | None = None  # on one CPU (sparse_embedding.py)


def wants_cuda_graphs(config: TrainConfig, device: torch.device, ranks: distributed.Ranks) -> bool:
    """CUDA graphs on one CUDA GPU when asked for; DDP's gradient hooks are not captured here."""
    return config.cuda_graphs and device.type == "cuda" and not ranks.several


def set_up(train_data: LabelledData, validation_data: LabelledData, config: TrainConfig) -> Setup:
    torch.manual_seed(config.seed)
    ranks = distributed.from_environment()
    device = resolve_device(config.device)
    if ranks.several:
        device = distributed.start(ranks, device)
    if device.type == "cpu":
        use_all_cores()
    tokenizer = backbones.load_tokenizer(config.model)
    model = build_model(config, train_data.label_names, train_data.problem_type).to(device)
    cls_only = compute_only_cls_in_last_layer(model)
    cpu_dropout = device.type == "cpu" and use_cpu_dropout(model)
    graphs = wants_cuda_graphs(config, device, ranks)
    # Eager steps on one CPU only: DDP reduces dense gradients in buckets, and a graphed step
    # keeps every gradient dense at a fixed address.
    eager_on_one_cpu = device.type == "cpu" and not ranks.several and not graphs
    sparse_embedding = use_sparse_embedding_gradient(model) if eager_on_one_cpu else None
    if train_data.problem_type != "single_label":
        start_at_base_rates(model, train_data)
    train_ids = batching.tokenize(tokenizer, train_data.texts, config.max_length)
    weights = None
    if config.class_weights == "auto":
        arrays = _label_arrays(train_data)
        weights = heads.class_weights(train_data.problem_type, *arrays, len(train_data.label_names))
        weights = weights.to(device)
    optimizer = make_optimizer(model, config, device, capturable=graphs)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size) // ranks.world
    total_steps = steps_per_epoch * config.epochs
    return Setup(
        device=device,
        tokenizer=tokenizer,
        model=_parallel(model, ranks, device),
        network=model,
        ranks=ranks,
        pad_id=tokenizer.pad_token_id or 0,
        train_ids=train_ids,
        validation_ids=batching.tokenize(tokenizer, validation_data.texts, config.max_length),
        targets=training_targets(train_data),
        loss_fn=heads.loss_function(train_data.problem_type, weights),
        optimizer=optimizer,
        scheduler=warmup_then_linear(
            optimizer, int(config.warmup_ratio * total_steps), total_steps
        ),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        cuda_graphs=graphs,
        cls_only=cls_only,
        cpu_dropout=cpu_dropout,
        sparse_embedding=sparse_embedding,
    )


def _parallel(model: torch.nn.Module, ranks: distributed.Ranks, device: torch.device):
    if not ranks.several:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def train_step(
    s: Setup, rows: list[int], batch: dict, config: TrainConfig, emit: EventSink | None = None
) -> torch.Tensor:
    """One optimisation step; the loss stays on the device so that no step waits for the host.

    Out of memory, the batch is cut into twice as many micro-batches whose gradients add up to
    the same step (the effective batch is kept), and `emit` is told; the later steps keep the cut.
    """
    while True:
        try:
            loss = _gradients(s, rows, batch, s.micro_batches)
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
    return loss


def _gradients(s: Setup, rows: list[int], batch: dict, pieces: int) -> torch.Tensor:
    """Forward and backward over the batch in `pieces` micro-batches; each loss is weighted by
    its share of the rows, so the gradients add up to those of the whole batch."""
    total = torch.zeros((), device=s.device)
    parts = np.array_split(np.arange(len(rows)), min(pieces, len(rows)))
    for part in parts:
        inject_out_of_memory(len(part))
        chosen = {k: v[part] for k, v in batch.items()} if pieces > 1 else batch
        micro = {k: v.to(s.device, non_blocking=True) for k, v in chosen.items()}
        with autocast(s.device):
            logits = s.model(**micro).logits
        targets = s.targets[[rows[i] for i in part]].to(s.device, non_blocking=True)
        loss = s.loss_fn(logits.float(), targets) * (len(part) / len(rows)) * poison(s)
        loss.backward()
        total += loss.detach()
    return total


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
        return self.graphed(batch, poison(s))

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


def memory_event(s: Setup, rows: int) -> dict:
    size = -(-rows // s.micro_batches)
    message = (
        f"Out of memory: each batch of {rows} now runs as {s.micro_batches} micro-batches of "
        f"about {size}, their gradients added up (the same effective batch)."
    )
    return {"event": "memory", "micro_batches": s.micro_batches, "message": message}


def evaluate(s: Setup, data: LabelledData, config: TrainConfig) -> tuple[dict, np.ndarray]:
    probabilities = predict_probabilities(
        s.network, s.validation_ids, s.pad_id, data.problem_type, s.device
    )
    scores = classification_metrics(
        true_labels(data), probabilities, data.label_names, data.problem_type, config.threshold
    )
    return scores, probabilities


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
            break
        scores, probabilities = evaluate(s, validation_data, config)
        emit({"event": "evaluation", "step": step, "epoch": epoch, "metrics": scores})
        verdict = _compare(scores, best, metric_name)
        if verdict >= 0:
            score = scores[metric_name]
            best = Checkpoint(score, step, epoch, scores, _cpu_copy(s.network), probabilities)
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
    return TrainResult(s.network, s.tokenizer, best, stopped, step, seconds, rate)


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


def _label_arrays(data: LabelledData):
    if data.problem_type == "multi_label":
        return None, data.label_matrix()
    return data.label_ids(), None


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


def predictions_table(
    data: LabelledData, probabilities: np.ndarray, threshold: float
) -> pd.DataFrame:
    """Validation texts with true and predicted labels and a probability column per class."""
    names = np.array(data.label_names)
    decided = prediction_ids(probabilities, data.problem_type, threshold)
    if data.problem_type == "multi_label":
        predicted = [";".join(names[row.astype(bool)]) for row in decided]
        confidence = probabilities.max(axis=1)
    else:
        predicted = list(names[decided])
        confidence = probabilities[np.arange(len(decided)), decided]
    table = pd.DataFrame(
        {
            "text": data.texts,
            "true_label": [";".join(row) for row in data.labels],
            "predicted_label": predicted,
            "confidence": confidence,
        }
    )
    for index, name in enumerate(data.label_names):
        table[f"p_{name}"] = probabilities[:, index]
    return table
