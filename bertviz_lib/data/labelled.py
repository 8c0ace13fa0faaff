"""Labelled data after cleaning, and the prepared pair of splits the pages, the CLI and the
trainer work from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bertviz_lib.data.findings import DataReport

ProblemType = Literal["single_label", "binary", "multi_label"]


@dataclass
class LabelledData:
    """Texts with their labels, after cleaning. Single-label rows hold a one-element tuple."""

    texts: list[str]
    labels: list[tuple[str, ...]]
    label_names: list[str]
    problem_type: ProblemType

    def __len__(self) -> int:
        return len(self.texts)

    def label_ids(self) -> np.ndarray:
        """Class index per row (single_label and binary)."""
        index = {name: i for i, name in enumerate(self.label_names)}
        return np.array([index[row[0]] for row in self.labels], dtype=np.int64)

    def label_matrix(self) -> np.ndarray:
        """Multi-hot matrix (rows x label_names), float32, for multi_label."""
        index = {name: i for i, name in enumerate(self.label_names)}
        matrix = np.zeros((len(self.labels), len(self.label_names)), dtype=np.float32)
        for row, names in enumerate(self.labels):
            for name in names:
                matrix[row, index[name]] = 1.0
        return matrix

    def truth(self) -> np.ndarray:
        """What metrics and calibration compare predictions with: class ids, or the multi-hot
        matrix for multi_label."""
        return self.label_matrix() if self.problem_type == "multi_label" else self.label_ids()

    def subset(self, indices: Sequence[int]) -> LabelledData:
        return LabelledData(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_names=list(self.label_names),
            problem_type=self.problem_type,
        )


@dataclass
class PreparedData:
    """What the Data page and `train` work from: both splits and everything noticed on the way."""

    train: LabelledData | None
    validation: LabelledData | None
    report: DataReport
    text_column: str | None
    label_column: str | None


TokenCounter = Callable[[list[str]], list[int]]


Row = tuple[str, tuple[str, ...]]
