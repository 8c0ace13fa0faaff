"""Fine-tuning: the model, the loop, evaluation and the kept checkpoint.

`fit` is the whole loop and knows nothing of files; `run_training` wraps it with the run folder
(status, events, the saved model), and is what the command line and the Train page start.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from . import backbones, batching, heads
from .config import LOWER_IS_BETTER, TrainConfig
from .data import LabelledData
from .devices import autocast, resolve_device, use_all_cores
from .metrics import classification_metrics, prediction_ids
from .predict import predict_probabilities

EventSink = Callable[[dict], None]
FAULT_VARIABLE = "BERTVIZ_INJECT_FAULT"  # "step:N" or "save": for the fault-injection tests


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


def make_optimizer(model, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and normalisation weights, fused on CUDA."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decayed = [p for n, p in trainable if p.ndim >= 2]
    undecayed = [p for n, p in trainable if p.ndim < 2]
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=device.type == "cuda")


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


def fit(
    train_data: LabelledData,
    validation_data: LabelledData,
    config: TrainConfig,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fine-tune and keep the best checkpoint by the validation metric."""
    emit = on_event or (lambda event: None)
    stop_requested = should_stop or (lambda: False)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    if device.type == "cpu":
        use_all_cores()
    problem_type, labels = train_data.problem_type, train_data.label_names
    tokenizer = backbones.load_tokenizer(config.model)
    model = build_model(config, labels, problem_type).to(device)
    pad_id = tokenizer.pad_token_id or 0
    train_ids = batching.tokenize(tokenizer, train_data.texts, config.max_length)
    validation_ids = batching.tokenize(tokenizer, validation_data.texts, config.max_length)
    lengths = [len(x) for x in train_ids]
    targets = training_targets(train_data)
    weights = None
    if config.class_weights == "auto":
        weights = heads.class_weights(problem_type, *_label_arrays(train_data), len(labels))
        weights = weights.to(device)
    loss_fn = heads.loss_function(problem_type, weights)
    optimizer = make_optimizer(model, config, device)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = warmup_then_linear(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    log_every = max(1, steps_per_epoch // 25)
    metric_name = best_metric_name(config, problem_type)
    best, stale_evaluations, stopped, step, seen = Checkpoint(), 0, "finished", 0, 0
    emit(
        {
            "event": "start",
            "device": str(device),
            "total_steps": total_steps,
            "train_rows": len(train_ids),
            "validation_rows": len(validation_ids),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }
    )
    started = time.perf_counter()
    model.train()
    for epoch in range(config.epochs):
        for rows, batch in batching.iterate(
            train_ids, batching.training_batches(lengths, config.batch_size, rng), pad_id
        ):
            if stop_requested():
                stopped = "cancelled"
                break
            inject_fault(f"step:{step}")
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast(device):
                logits = model(**batch).logits
            loss = loss_fn(logits.float(), targets[rows].to(device, non_blocking=True))
            loss.backward()
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step, seen = step + 1, seen + len(rows)
            if step % log_every == 0 or step == total_steps:
                loss_value = loss.item()  # the only host synchronisation, every log_every steps
                elapsed = time.perf_counter() - started
                emit(
                    {
                        "event": "step",
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": step / steps_per_epoch,
                        "loss": loss_value,
                        "learning_rate": scheduler.get_last_lr()[0],
                        "samples_per_second": seen / elapsed,
                        "eta_seconds": elapsed / step * (total_steps - step),
                    }
                )
                if not math.isfinite(loss_value):
                    stopped = "diverged"
                    break
        if stopped != "finished":
            break
        probabilities = predict_probabilities(model, validation_ids, pad_id, problem_type, device)
        scores = classification_metrics(
            true_labels(validation_data),
            probabilities,
            labels,
            problem_type,
            threshold=config.threshold,
        )
        emit({"event": "evaluation", "step": step, "epoch": epoch + 1, "metrics": scores})
        score = scores.get(metric_name)
        if best.state is None or _improves(score, best.score, metric_name):
            best = Checkpoint(score, step, epoch + 1, scores, _cpu_copy(model), probabilities)
            stale_evaluations = 0
        else:
            stale_evaluations += 1
        if config.patience and stale_evaluations >= config.patience:
            stopped = "early_stopping"
            break
    seconds = time.perf_counter() - started
    if best.state is not None:
        model.load_state_dict(best.state)
    emit(
        {
            "event": "end",
            "stopped": stopped,
            "steps": step,
            "seconds": seconds,
            "best_step": best.step,
            "best_epoch": best.epoch,
            "best_metric": metric_name,
            "best_score": best.score,
        }
    )
    return TrainResult(model, tokenizer, best, stopped, step, seconds, seen / max(seconds, 1e-9))


def _label_arrays(data: LabelledData):
    if data.problem_type == "multi_label":
        return None, data.label_matrix()
    return data.label_ids(), None


def _improves(score: float | None, best: float | None, metric_name: str) -> bool:
    if score is None:
        return False
    if best is None:
        return True
    return score < best if metric_name in LOWER_IS_BETTER else score > best


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


def describe_config(config: TrainConfig) -> dict:
    return asdict(config)
