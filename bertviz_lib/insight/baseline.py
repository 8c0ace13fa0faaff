"""A baseline to beat: TF-IDF over word 1-2-grams and logistic regression, on the run's own split.

Why: fine-tuning a BERT costs minutes to hours; a linear model over word counts costs seconds.
Where it does as well, the labels follow words more than meaning, and the cheap model may be the
better choice; where the fine-tuned model wins, the gap says by how much it earns its cost. So
each run fits this baseline in the training process, after the split, on the same training rows,
and scores it on the same validation rows with the same metrics (`metrics.classification_metrics`,
the run's threshold), then writes `baseline_metrics.json`:

    {"model": DESCRIPTION, "settings": {...}, "seconds", "train_rows", "validation_rows",
     "metrics": {...as final_metrics.json...}, "predicted_labels": [one cell per validation row]}

or {"model", "error"} when it cannot be fitted (a vocabulary left empty, say). `predicted_labels`
follows the validation rows of `predictions.csv`, so the Metrics page can list the rows each model
gets right that the other gets wrong. Nothing here was tuned: the settings are scikit-learn's
defaults except the two below, chosen before any measurement.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bertviz_lib.data import LabelledData
from bertviz_lib.metrics import HEADLINE_METRICS, classification_metrics
from bertviz_lib.runs import files, predictions

DESCRIPTION = "TF-IDF (word 1-2-grams) + logistic regression"
NGRAM_RANGE = (1, 2)  # word unigrams and bigrams, so "not good" is a feature of its own
SUBLINEAR_TF = True  # 1 + log(count): a word said five times is not five times the evidence
MAX_ITER = 1000  # lbfgs iterations; scikit-learn's 100 can stop short on a large vocabulary


@dataclass
class Baseline:
    """The baseline's validation probabilities (columns in label_names order) and metrics."""

    probabilities: np.ndarray
    metrics: dict
    seconds: float


def settings(class_weights: str) -> dict:
    return {"ngram_range": list(NGRAM_RANGE), "sublinear_tf": SUBLINEAR_TF, "max_iter": MAX_ITER,
            "class_weight": "balanced" if class_weights == "auto" else None}  # fmt: skip


def fit(
    train: LabelledData, validation: LabelledData, threshold: float, class_weights: str = "off"
) -> Baseline:
    """Fit on `train`, score `validation`; the run's `class_weights` ('auto' or 'off') carry over.

    Raises ValueError when scikit-learn cannot fit (no word left in the vocabulary)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.perf_counter()
    chosen = settings(class_weights)
    vectorizer = TfidfVectorizer(ngram_range=NGRAM_RANGE, sublinear_tf=SUBLINEAR_TF)
    features = vectorizer.fit_transform(train.texts)
    classifier = LogisticRegression(max_iter=MAX_ITER, class_weight=chosen["class_weight"])
    names = train.label_names
    with warnings.catch_warnings():  # a label present in every row (or none) is kept constant
        warnings.simplefilter("ignore", UserWarning)
        if train.problem_type == "multi_label":
            model = OneVsRestClassifier(classifier).fit(features, train.label_matrix())
            probabilities = model.predict_proba(vectorizer.transform(validation.texts))
        else:
            model = classifier.fit(features, train.label_ids())
            given = model.predict_proba(vectorizer.transform(validation.texts))
            probabilities = np.zeros((len(validation), len(names)))
            probabilities[:, model.classes_] = given  # a class absent from training stays at 0
    metrics = classification_metrics(
        validation.truth(), probabilities, names, train.problem_type, threshold
    )
    return Baseline(np.asarray(probabilities), metrics, time.perf_counter() - started)


def write(
    folder: str | Path,
    train: LabelledData,
    validation: LabelledData,
    threshold: float,
    class_weights: str = "off",
) -> dict:
    """Fit, then write `baseline_metrics.json` (an error, if it cannot be fitted, is written
    there rather than failing the run the baseline only accompanies)."""
    try:
        baseline = fit(train, validation, threshold, class_weights)
    except ValueError as error:
        payload = {"model": DESCRIPTION, "error": str(error)}
    else:
        table = predictions.table(validation, baseline.probabilities, threshold)
        payload = {
            "model": DESCRIPTION,
            "settings": settings(class_weights),
            "seconds": baseline.seconds,
            "train_rows": len(train),
            "validation_rows": len(validation),
            "metrics": baseline.metrics,
            "predicted_labels": table[predictions.PREDICTED].tolist(),
        }
    files.write_json(Path(folder) / files.BASELINE_METRICS, payload)
    return payload


def read(folder: str | Path) -> dict:
    """The run's baseline_metrics.json ({} when it has none)."""
    return files.read_json(Path(folder) / files.BASELINE_METRICS)


def headline(fine_tuned: dict, baseline: dict) -> pd.DataFrame:
    """The headline metrics both have, side by side, with the fine-tuned model's lead."""
    rows = []
    for key in HEADLINE_METRICS:
        mine, theirs = fine_tuned.get(key), baseline.get(key)
        if mine is None or theirs is None:
            continue
        rows.append({"metric": key, "fine-tuned": mine, "baseline": theirs,
                     "fine-tuned minus baseline": mine - theirs})  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "fine-tuned", "baseline",
                                       "fine-tuned minus baseline"])  # fmt: skip


def per_class_f1(fine_tuned: dict, baseline: dict) -> pd.DataFrame:
    """F1 of each class (each label) for both models."""
    theirs = {row["label"]: row["f1"] for row in baseline.get("per_class", [])}
    return pd.DataFrame(
        [
            {"label": row["label"], "fine-tuned": row["f1"], "baseline": theirs.get(row["label"])}
            for row in fine_tuned.get("per_class", [])
        ],
        columns=["label", "fine-tuned", "baseline"],
    )


def disagreements(
    table: pd.DataFrame, baseline_labels: list[str], problem_type: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows only the fine-tuned model gets right, rows only the baseline gets right), from the
    run's predictions table and the baseline's predicted cells. Right means the predicted labels
    are the true ones, as sets for multi-label runs."""
    if len(baseline_labels) != len(table):
        raise ValueError(
            f"The baseline predicted {len(baseline_labels)} rows; the run's predictions table "
            f"has {len(table)}."
        )

    def labels(cell) -> set:
        return set(predictions.labels_in(cell, problem_type))

    truth = [labels(cell) for cell in table[predictions.TRUE]]
    mine = [labels(cell) == t for cell, t in zip(table[predictions.PREDICTED], truth, strict=True)]
    theirs = [labels(cell) == t for cell, t in zip(baseline_labels, truth, strict=True)]
    shown = pd.DataFrame(
        {
            "text": table[predictions.TEXT],
            "true_label": table[predictions.TRUE],
            "fine-tuned": table[predictions.PREDICTED],
            "baseline": list(baseline_labels),
        }
    )
    mine, theirs = np.array(mine, dtype=bool), np.array(theirs, dtype=bool)
    return shown[mine & ~theirs], shown[theirs & ~mine]
