"""The data map of a run's training rows, and the rows whose labels look wrong.

Why: people upload labels typed by people, and some are wrong. Dataset cartography (Swayamdipta
et al., 2020, "Dataset Cartography: Mapping and Diagnosing Datasets with Training Dynamics",
EMNLP) finds them from the training run alone: a row whose gold label the model keeps giving a low
probability, epoch after epoch, without wavering (low confidence, low variability: "hard to
learn") is where mislabelled rows gather; a row the model wavers on (high variability) is
"ambiguous"; the rest are "easy to learn". No second model and no extra pass: the probabilities
are those the training steps computed anyway (`train/dynamics.py`).

This module owns `training_dynamics.csv`, one row per training row:

    row, text, label, confidence, variability, correctness, preferred_label, region,
    p_gold_epoch_1 ... p_gold_epoch_<E>

`row` is the row's position in the run's training split; `label` its gold label(s), joined by
`config.LABEL_DELIMITER`; `preferred_label` the class the model predicted in most epochs (ties: the
later epoch; for multi-label runs, the label it found most probable). A row no epoch trained on
(under DDP a few batches an epoch are dropped) is left out.

Suspected label errors are ranked by confidence, lowest first, ties by variability, lowest first:
the rows the model most consistently disagreed with. Nothing was tuned on the data sets of the
planted-error check (`benchmarks/insight.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bertviz_lib.data import LabelledData
from bertviz_lib.runs import files, predictions
from bertviz_lib.train.dynamics import UNSEEN, Dynamics

AMBIGUOUS_VARIABILITY = 0.2  # variability from which a row is "ambiguous", whatever its confidence
EASY_CONFIDENCE = 0.5  # confidence from which a row that is not ambiguous is "easy to learn"
EASY, AMBIGUOUS, HARD = "easy to learn", "ambiguous", "hard to learn"  # the paper's three regions
REGIONS = (EASY, AMBIGUOUS, HARD)
DEFAULT_TOP = 20  # suspects listed when no number is asked for

ROW, TEXT, LABEL = "row", "text", "label"
CONFIDENCE, VARIABILITY, CORRECTNESS = "confidence", "variability", "correctness"
PREFERRED, REGION = "preferred_label", "region"
EPOCH_PREFIX = "p_gold_epoch_"  # then the epoch number, from 1
SUSPECT_COLUMNS = (TEXT, LABEL, PREFERRED, CONFIDENCE, VARIABILITY, CORRECTNESS)


def epoch_column(epoch: int) -> str:
    return f"{EPOCH_PREFIX}{epoch}"


def epochs(frame: pd.DataFrame) -> int:
    """How many epochs a data map holds: one probability column each."""
    return sum(str(column).startswith(EPOCH_PREFIX) for column in frame.columns)


def region(confidence: np.ndarray, variability: np.ndarray) -> np.ndarray:
    """The region of each row: ambiguous from AMBIGUOUS_VARIABILITY, else easy or hard to learn
    by EASY_CONFIDENCE."""
    confidence, variability = np.asarray(confidence), np.asarray(variability)
    learned = np.where(confidence >= EASY_CONFIDENCE, EASY, HARD)
    return np.where(variability >= AMBIGUOUS_VARIABILITY, AMBIGUOUS, learned)


def data_map(dynamics: Dynamics, data: LabelledData) -> pd.DataFrame:
    """One row per training row an epoch trained on: the statistics of the paper, the preferred
    label and the region, then the gold label's probability at each epoch."""
    seen = ~np.isnan(dynamics.gold)  # (epochs, rows)
    kept = seen.any(axis=0)
    gold = dynamics.gold[:, kept]
    confidence = np.nanmean(gold, axis=0)
    variability = np.nanstd(gold, axis=0)  # the population std, as in the paper's code
    correctness = np.nanmean(dynamics.right[:, kept], axis=0)
    names = np.array(data.label_names)
    preferred = names[_most_often(dynamics.predicted[:, kept], len(names))]
    rows = np.flatnonzero(kept)
    frame = pd.DataFrame(
        {
            ROW: rows,
            TEXT: [data.texts[i] for i in rows],
            LABEL: [predictions.joined(data.labels[i]) for i in rows],
            CONFIDENCE: confidence,
            VARIABILITY: variability,
            CORRECTNESS: correctness,
            PREFERRED: preferred,
            REGION: region(confidence, variability),
        }
    )
    for epoch in range(dynamics.epochs):
        frame[epoch_column(epoch + 1)] = gold[epoch]
    return frame


def _most_often(predicted: np.ndarray, classes: int) -> np.ndarray:
    """Per column, the class predicted in most epochs; a tie goes to the one predicted later."""
    epochs = predicted.shape[0]
    lateness = 1.0 + np.arange(epochs)[:, None, None] / (epochs * (epochs + 1.0))
    hits = (predicted[:, :, None] == np.arange(classes)[None, None, :]) & (
        predicted[:, :, None] != UNSEEN
    )
    return (hits * lateness).sum(axis=0).argmax(axis=1)


def write(folder: str | Path, frame: pd.DataFrame) -> None:
    frame.to_csv(Path(folder) / files.TRAINING_DYNAMICS, index=False)


def read(folder: str | Path) -> pd.DataFrame | None:
    """The map of a run folder, texts and labels as written (None when the run has none: trained
    before this existed, or stopped before an epoch ended)."""
    path = Path(folder) / files.TRAINING_DYNAMICS
    if not path.is_file():
        return None
    return pd.read_csv(
        path, keep_default_na=False, dtype={TEXT: str, LABEL: str, PREFERRED: str, REGION: str}
    )


def suspects(frame: pd.DataFrame, top: int | None = DEFAULT_TOP) -> pd.DataFrame:
    """The rows most likely mislabelled, most suspicious first: lowest confidence, then lowest
    variability (`top` of them; all with None)."""
    ranked = frame.sort_values([CONFIDENCE, VARIABILITY, ROW], kind="stable")
    return ranked if top is None else ranked.head(top)


def suspects_csv(suspects_frame: pd.DataFrame) -> bytes:
    """The suspects as a download: their columns and region, cells that start like a
    spreadsheet formula neutralised (`report.exports.safe_csv`)."""
    from bertviz_lib.report.exports import safe_csv

    return safe_csv(suspects_frame[[*SUSPECT_COLUMNS, REGION]])


def region_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame[REGION].value_counts()
    return {name: int(counts.get(name, 0)) for name in REGIONS}
