"""predictions.csv: the validation predictions of a run's kept checkpoint.

The training process writes it once (`write`); Metrics, Explain, the quiz's questions from a run
and the exports read it (`read`, then `arrays`, `predicted_labels`, `mistakes`), so its columns
are defined here and nowhere else:

    text, true_label, predicted_label, confidence, p_<label> for each label in label_names order

Several labels in one cell (multi-label runs) are joined by `config.LABEL_DELIMITER`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bertviz_lib.config import LABEL_DELIMITER
from bertviz_lib.data import LabelledData
from bertviz_lib.metrics import prediction_ids
from bertviz_lib.runs import files

TEXT, TRUE, PREDICTED, CONFIDENCE = "text", "true_label", "predicted_label", "confidence"


class PredictionsError(ValueError):
    """A predictions table that does not match the run's labels; the message says how."""


def probability_column(label: str) -> str:
    return f"p_{label}"


def joined(labels: Sequence[str]) -> str:
    """Labels as one cell."""
    return LABEL_DELIMITER.join(labels)


def labels_in(cell: object, problem_type: str) -> list[str]:
    """The labels in one cell: split on the delimiter for multi-label runs, blanks dropped; the
    whole cell otherwise (a single label may itself contain the delimiter)."""
    if problem_type != "multi_label":
        return [str(cell)]
    return [label.strip() for label in str(cell).split(LABEL_DELIMITER) if label.strip()]


def table(data: LabelledData, probabilities: np.ndarray, threshold: float) -> pd.DataFrame:
    """Validation texts with true and predicted labels and a probability column per class."""
    names = np.array(data.label_names)
    decided = prediction_ids(probabilities, data.problem_type, threshold)
    if data.problem_type == "multi_label":
        predicted = [joined(names[row.astype(bool)]) for row in decided]
        confidence = probabilities.max(axis=1)
    else:
        predicted = list(names[decided])
        confidence = probabilities[np.arange(len(decided)), decided]
    frame = pd.DataFrame(
        {
            TEXT: data.texts,
            TRUE: [joined(row) for row in data.labels],
            PREDICTED: predicted,
            CONFIDENCE: confidence,
        }
    )
    for index, name in enumerate(data.label_names):
        frame[probability_column(name)] = probabilities[:, index]
    return frame


def write(
    folder: str | Path, data: LabelledData, probabilities: np.ndarray, threshold: float
) -> None:
    table(data, probabilities, threshold).to_csv(Path(folder) / files.PREDICTIONS, index=False)


def read(folder: str | Path) -> pd.DataFrame | None:
    """The table in a run folder, texts and labels as written (None before there is one, or when
    it is a symbolic link rather than the run's own file)."""
    path = Path(folder) / files.PREDICTIONS
    if not path.is_file() or path.is_symlink():
        return None
    return pd.read_csv(path, keep_default_na=False, dtype={TEXT: str, TRUE: str, PREDICTED: str})


def arrays(
    frame: pd.DataFrame, label_names: Sequence[str], problem_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, probabilities) in the form `metrics` takes: class ids, or a multi-hot matrix for
    multi-label runs. Lets Metrics draw ROC and PR curves of a finished run without its model."""
    names = [str(name) for name in label_names]
    columns = [probability_column(name) for name in names]
    missing = [c for c in [*columns, TRUE] if c not in frame.columns]
    if missing:
        raise PredictionsError(
            f"The predictions table lacks column(s) {', '.join(missing)}; it does not match "
            "these label names."
        )
    probabilities = frame[columns].to_numpy(dtype=float)
    index = {name: i for i, name in enumerate(names)}
    cells = [labels_in(cell, problem_type) for cell in frame[TRUE]]
    if problem_type == "multi_label":
        y_true = np.zeros((len(cells), len(names)), dtype=int)
        for row, labels in enumerate(cells):
            for label in labels:
                y_true[row, _label_index(index, label)] = 1
        return y_true, probabilities
    return np.array([_label_index(index, labels[0]) for labels in cells], dtype=int), probabilities


def _label_index(index: dict[str, int], label: str) -> int:
    if label not in index:
        raise PredictionsError(
            f"The predictions table has a true label {label!r} the run does not know."
        )
    return index[label]


def predicted_labels(frame: pd.DataFrame, problem_type: str) -> list[set[str]]:
    """The labels predicted for each row."""
    return [set(labels_in(cell, problem_type)) for cell in frame[PREDICTED]]


def mistakes(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows predicted wrong, most confident first."""
    wrong = frame[frame[TRUE] != frame[PREDICTED]]
    return wrong.sort_values(CONFIDENCE, ascending=False)[[TEXT, TRUE, PREDICTED, CONFIDENCE]]
