"""The seeded, stratified train/validation split, and a sentence when stratification cannot
hold."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from sklearn.model_selection import train_test_split

from bertviz_lib.data.findings import DataError, DataReport, Finding
from bertviz_lib.data.labelled import LabelledData
from bertviz_lib.data.wording import counted, has_or_have, quoted


def split(
    data: LabelledData, validation_fraction: float = 0.2, seed: int = 42
) -> tuple[LabelledData, LabelledData, DataReport]:
    """Hold out a validation side with the class proportions of the whole, the same for a seed.

    Same proportions so that validation scores mean something for small classes; the same rows
    for the same seed so that runs on one data set can be compared. At least one row goes to
    each side; a DataError says when that is impossible. The report may hold `not_stratified`.
    """
    report = DataReport()
    size = _validation_size(len(data), validation_fraction)
    strata = _strata(data)
    problem = _stratification_problem(strata, size, len(data) - size)
    if problem is not None:
        report.findings.append(problem)
        strata = None
    train, held = train_test_split(
        np.arange(len(data)), test_size=size, random_state=seed, stratify=strata
    )
    return data.subset(sorted(train)), data.subset(sorted(held)), report


def _validation_size(rows: int, fraction: float) -> int:
    if not 0 < fraction < 1:
        side = "validation" if not fraction > 0 else "training"
        raise DataError(
            f"A validation fraction of {fraction} would leave the {side} side empty; "
            "choose one between 0 and 1."
        )
    if rows < 2:
        raise DataError(
            f"A table of {counted(rows, 'row')} cannot be split into training and validation."
        )
    return min(max(1, math.ceil(rows * fraction)), rows - 1)


def _strata(data: LabelledData) -> list[str]:
    """Multi-label rows are stratified by their rarest label, so rare labels reach both sides."""
    counts = Counter(label for row in data.labels for label in row)
    return [min(row, key=lambda label: (counts[label], label)) for row in data.labels]


def _stratification_problem(strata: list[str], held: int, kept: int) -> Finding | None:
    counts = Counter(strata)
    lonely = sorted(label for label, n in counts.items() if n < 2)
    fallback = "so the split cannot keep the label proportions; a plain random split is used."
    if lonely:
        return Finding(
            "warning",
            "not_stratified",
            f"{counted(len(lonely), 'label')} {has_or_have(len(lonely))} a single row "
            f"({quoted(lonely)}), {fallback}",
            len(lonely),
        )
    if min(held, kept) < len(counts):
        side = "validation" if held <= kept else "training"
        return Finding(
            "warning",
            "not_stratified",
            f"The {side} side would have {counted(min(held, kept), 'row')}, fewer than the "
            f"{len(counts)} labels, {fallback}",
        )
    return None


def split_or_keep(
    data: LabelledData,
    held_out: LabelledData | None,
    fraction: float,
    seed: int,
    report: DataReport,
) -> tuple[LabelledData | None, LabelledData | None]:
    if not report.ok:
        return None, None
    if held_out is None:
        try:
            data, held_out, split_report = split(data, fraction, seed)
        except DataError as error:
            report.add("error", "too_few_rows", str(error), count=len(data))
            return None, None
        report.findings.extend(split_report.findings)
    _check_unseen(data, held_out, report)
    return data, held_out


def _check_unseen(train: LabelledData, held_out: LabelledData, report: DataReport) -> None:
    seen = {label for row in train.labels for label in row}
    unseen = sorted(
        {label for row in held_out.labels for label in row} - seen, key=train.label_names.index
    )
    if unseen:
        report.add(
            "warning",
            "unseen_validation_labels",
            f"{counted(len(unseen), 'label')} in the validation data never "
            f"{'appears' if len(unseen) == 1 else 'appear'} in the training data "
            f"({quoted(unseen)}); the model never sees an example of "
            f"{'it' if len(unseen) == 1 else 'them'}, so it cannot learn to predict "
            f"{'it' if len(unseen) == 1 else 'them'}.",
            count=len(unseen),
        )
