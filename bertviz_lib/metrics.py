"""Scores from true labels and predicted probabilities.

Everything returned here ends up in JSON files and on Streamlit pages, so results are plain Python
values: a score that cannot be computed for the data at hand is `None`, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from bertviz_lib.config import PROBLEM_TYPES

LOG_LOSS_EPS = 1e-7
# the scores a run is summed up by (CLI lines, the model card, the baseline beside the model);
# each is present only where its problem type has it
HEADLINE_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "roc_auc", "log_loss", "ece")


def prediction_ids(
    probabilities: np.ndarray, problem_type: str, threshold: float = 0.5
) -> np.ndarray:
    """Turn probabilities into decisions the same way everywhere (metrics, pages, exports).

    Returns class ids of shape (n,): the argmax for single_label, and for binary the positive
    class when its probability reaches the run's threshold (so a run trained with threshold 0.7
    decides at 0.7 on every page); or a 0/1 matrix of shape (n, C) for multi_label.
    """
    _check_problem_type(problem_type)
    probs = np.asarray(probabilities, dtype=float)
    if probs.ndim != 2:
        raise ValueError(f"Probabilities must be a 2-D array (rows, classes); got {probs.shape}.")
    if problem_type == "multi_label":
        return (probs >= threshold).astype(int)
    if problem_type == "binary" and probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(int)
    return probs.argmax(axis=1)


def expected_calibration_error(
    confidences: np.ndarray, outcomes: np.ndarray, bins: int = 10
) -> tuple[float, list[dict]]:
    """Measure how far stated confidence is from observed frequency, bin by bin.

    Bins are equal-width and half-open [lower, upper), except that the last one also holds 1.0 so
    that a fully confident prediction is counted. Edges are k / bins so that a confidence such as
    0.3 falls where a reader expects it. Empty bins report None rather than a made-up number.
    """
    conf = np.asarray(confidences, dtype=float).ravel()
    hits = np.asarray(outcomes, dtype=float).ravel()
    if conf.shape != hits.shape:
        raise ValueError(
            f"Confidences and outcomes must have the same length; got {conf.size} and {hits.size}."
        )
    if conf.size == 0:
        raise ValueError("Expected calibration error needs at least one prediction.")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"The number of calibration bins must be a positive integer; got {bins}.")
    if not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1:
        raise ValueError("Confidences must be finite numbers between 0 and 1.")

    edges = np.arange(bins + 1) / bins
    index = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    ece = 0.0
    table = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        mean_conf = float(conf[members].mean()) if count else None
        accuracy = float(hits[members].mean()) if count else None
        if count:
            ece += count / conf.size * abs(accuracy - mean_conf)
        table.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_confidence": mean_conf,
                "accuracy": accuracy,
            }
        )
    return float(ece), table


def classification_metrics(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    label_names: Sequence[str],
    problem_type: str,
    threshold: float = 0.5,
    ece_bins: int = 10,
) -> dict:
    """Score one evaluation split in a form that can be saved as JSON and shown as-is.

    single_label/binary take class ids (n,) and softmax rows (n, C); multi_label takes a 0/1
    matrix (n, C) and independent sigmoid outputs. Precision, recall and F1 use zero_division=0,
    because a class the model never predicts should score 0, not crash the report.
    """
    names = [str(name) for name in label_names]
    y, probs = _validated(y_true, probabilities, names, problem_type)
    if problem_type == "multi_label":
        result = _multi_label_scores(y, probs, names, threshold)
        confidences, outcomes = probs.ravel(), y.ravel()
    else:
        result = _single_label_scores(y, probs, names, problem_type, threshold)
        confidences, outcomes = probs.max(axis=1), probs.argmax(axis=1) == y
    result["ece"], result["calibration"] = _calibration(confidences, outcomes, ece_bins)
    return _json_safe(result)


def _check_problem_type(problem_type: str) -> None:
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"Problem type must be one of {', '.join(PROBLEM_TYPES)}; got {problem_type!r}."
        )


def _validated(
    y_true: np.ndarray, probabilities: np.ndarray, names: list[str], problem_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Reject inputs that would otherwise give quietly wrong scores deep inside scikit-learn."""
    _check_problem_type(problem_type)
    probs = np.asarray(probabilities, dtype=float)
    y = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(
            f"Probabilities must be a non-empty (rows, classes) array; got {probs.shape}."
        )
    n, n_classes = probs.shape
    if len(names) != n_classes:
        raise ValueError(
            f"There are {len(names)} label names but the probabilities have {n_classes} columns."
        )
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("Probabilities must be finite numbers between 0 and 1.")
    if problem_type == "multi_label":
        if y.shape != probs.shape:
            raise ValueError(
                f"For multi_label, labels must be a 0/1 matrix shaped like the probabilities "
                f"{probs.shape}; got {y.shape}."
            )
        if not np.isin(y, (0, 1)).all():
            raise ValueError("For multi_label, every label cell must be 0 or 1.")
        return y.astype(int), probs
    if problem_type == "binary" and n_classes != 2:
        raise ValueError(f"Binary problems need exactly 2 probability columns; got {n_classes}.")
    if n_classes < 2:
        raise ValueError("Single-label problems need at least 2 classes.")
    if y.shape != (n,):
        raise ValueError(f"Labels must be a 1-D array of {n} class ids; got shape {y.shape}.")
    if not np.isin(y, np.arange(n_classes)).all():
        raise ValueError(f"Class ids must be whole numbers from 0 to {n_classes - 1}.")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("Each row of probabilities must sum to 1 (softmax output, not logits).")
    return y.astype(int), probs


def _averaged_scores(y: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict:
    """Per-class and macro/weighted precision, recall and F1 over every label, present or not."""
    labels = list(range(len(names)))
    result = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y, predicted, labels=labels, average=average, zero_division=0
        )
        result.update({f"{average}_precision": p, f"{average}_recall": r, f"{average}_f1": f})
    p, r, f, support = precision_recall_fscore_support(
        y, predicted, labels=labels, average=None, zero_division=0
    )
    result["per_class"] = [
        {"label": name, "precision": p[i], "recall": r[i], "f1": f[i], "support": support[i]}
        for i, name in enumerate(names)
    ]
    return result


def _ranking_scores(indicator: np.ndarray, probs: np.ndarray) -> dict:
    """ROC-AUC and average precision per column, None where y_true makes them meaningless.

    ROC-AUC needs both a positive and a negative; average precision needs a positive.
    """
    roc, pr = [], []
    for c in range(indicator.shape[1]):
        truth, score = indicator[:, c], probs[:, c]
        positives = int(truth.sum())
        roc.append(roc_auc_score(truth, score) if 0 < positives < truth.size else None)
        pr.append(average_precision_score(truth, score) if positives > 0 else None)
    return {
        "roc_auc": _mean_defined(roc),
        "pr_auc": _mean_defined(pr),
        "roc_auc_per_class": roc,
        "pr_auc_per_class": pr,
    }


def _single_label_scores(
    y: np.ndarray, probs: np.ndarray, names: list[str], problem_type: str, threshold: float
) -> dict:
    predicted = prediction_ids(probs, problem_type, threshold)
    one_hot = np.eye(len(names), dtype=int)[y]
    picked = np.clip(probs[np.arange(y.size), y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    result = {
        "n": y.size,
        "problem_type": problem_type,
        "label_names": names,
        "accuracy": accuracy_score(y, predicted),
        **_averaged_scores(y, predicted, names),
        **_ranking_scores(one_hot, probs),
        "log_loss": -np.log(picked).mean(),
        "confusion_matrix": confusion_matrix(y, predicted, labels=list(range(len(names)))),
    }
    if problem_type == "binary":
        positive = result["per_class"][1]
        result["roc_auc"] = result["roc_auc_per_class"][1]
        result["pr_auc"] = result["pr_auc_per_class"][1]
        result.update(
            positive_label=names[1],
            precision=positive["precision"],
            recall=positive["recall"],
            f1=positive["f1"],
        )
    return result


def _multi_label_scores(
    y: np.ndarray, probs: np.ndarray, names: list[str], threshold: float
) -> dict:
    predicted = prediction_ids(probs, "multi_label", threshold)
    clipped = np.clip(probs, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    cross_entropy = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean()
    micro_p, micro_r, micro_f, _ = precision_recall_fscore_support(
        y, predicted, average="micro", zero_division=0
    )
    return {
        "n": y.shape[0],
        "problem_type": "multi_label",
        "label_names": names,
        "accuracy": accuracy_score(y, predicted),
        **_averaged_scores(y, predicted, names),
        **_ranking_scores(y, probs),
        "log_loss": cross_entropy,
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f,
        "hamming_loss": hamming_loss(y, predicted),
        "samples_f1": f1_score(y, predicted, average="samples", zero_division=0),
        "threshold": threshold,
        "confusion_matrices": multilabel_confusion_matrix(y, predicted),
    }


def _calibration(confidences: np.ndarray, outcomes: np.ndarray, bins: int) -> tuple[float, dict]:
    ece, table = expected_calibration_error(confidences, outcomes, bins)
    return ece, {"bins": table}


def _mean_defined(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def _json_safe(value):
    """Convert numpy containers and scalars to plain Python, and any NaN/inf to None."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
