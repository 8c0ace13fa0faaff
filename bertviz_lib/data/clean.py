"""Rows made usable: blank texts and labels dropped and reported, label cells split into labels,
the problem type decided from the cells, over-long texts cut, large tables sampled (seeded).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from bertviz_lib.data.columns import column_values, split_cell
from bertviz_lib.data.findings import DataReport
from bertviz_lib.data.labelled import ProblemType, Row
from bertviz_lib.data.wording import counted, excerpt, has_or_have, in_file, listing, plural_s

MAX_ROWS = 100_000


MAX_TEXT_CHARS = 10_000


def problem_kind(
    requested: str,
    frames: list[pd.DataFrame],
    label: str,
    delimiter: str,
    report: DataReport,
) -> ProblemType:
    """Cells that split into several labels mean multi-label, unless the user said otherwise."""
    cells = [cell for frame in frames for cell in column_values(frame[label])]
    several = [cell for cell in cells if len(split_cell(cell, delimiter)) > 1]
    if requested == "multi_label" or (requested == "auto" and several):
        return "multi_label"
    if several:
        report.add(
            "error",
            "problem_type",
            f"The label column has several labels separated by '{delimiter}' in "
            f"{counted(len(several), 'row')} (for example '{excerpt(several[0])}'), but the "
            f"problem type is {requested}. Choose multi_label, or a different label delimiter.",
            count=len(several),
        )
    return "single_label" if requested == "auto" else requested


def clean_rows(
    frame: pd.DataFrame,
    columns: tuple[str, str],
    kind: ProblemType,
    delimiter: str,
    report: DataReport,
    role: str,
) -> list[Row]:
    """Drop rows that cannot teach anything (no text, no label) and say which ones."""
    rows, textless, labelless, cut = [], [], [], []
    cells = zip(frame[columns[0]].tolist(), frame[columns[1]].tolist(), strict=True)
    for number, (text, cell) in enumerate(cells, start=1):
        text, labels = _stripped(text), _cell_labels(_stripped(cell), kind, delimiter)
        if not text:
            textless.append(number)
        elif not labels:
            labelless.append(number)
        else:
            if len(text) > MAX_TEXT_CHARS:
                cut.append(number)
                text = text[:MAX_TEXT_CHARS]
            rows.append((text, labels))
    _report_dropped(textless, "no text", "missing_text", role, report)
    _report_dropped(labelless, "no label", "missing_label", role, report)
    _report_cut(cut, role, report)
    return rows


def _cell_labels(cell: str, kind: ProblemType, delimiter: str) -> tuple[str, ...]:
    if kind == "multi_label":
        return tuple(dict.fromkeys(split_cell(cell, delimiter)))
    return (cell,) if cell else ()


def _stripped(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    return "" if value is None or pd.isna(value) else str(value).strip()


def _report_dropped(
    numbers: list[int], lack: str, code: str, role: str, report: DataReport
) -> None:
    if not numbers:
        return
    shown = listing([str(n) for n in numbers[:5]], len(numbers))
    report.add(
        "warning",
        code,
        in_file(
            role,
            f"{counted(len(numbers), 'row')} {has_or_have(len(numbers))} {lack} and "
            f"{'was' if len(numbers) == 1 else 'were'} left out (row{plural_s(numbers)} {shown}, "
            "counting data rows from 1).",
        ),
        count=len(numbers),
    )


def _report_cut(numbers: list[int], role: str, report: DataReport) -> None:
    if not numbers:
        return
    shown = listing([str(n) for n in numbers[:5]], len(numbers))
    report.add(
        "warning",
        "text_cut",
        in_file(
            role,
            f"{counted(len(numbers), 'text')} {'is' if len(numbers) == 1 else 'are'} longer than "
            f"{MAX_TEXT_CHARS:,} characters and {'was' if len(numbers) == 1 else 'were'} cut to "
            f"that length (row{plural_s(numbers)} {shown}, counting data rows from 1).",
        ),
        count=len(numbers),
    )


def sampled(rows: list[Row], max_rows: int | None, seed: int, report: DataReport) -> list[Row]:
    """A seeded sample keeps the run repeatable; file order is kept so previews still make sense.

    MAX_ROWS applies even when `max_rows` is None or larger: the sample then has MAX_ROWS rows.
    """
    max_rows = MAX_ROWS if max_rows is None else min(max(max_rows, 1), MAX_ROWS)
    if len(rows) <= max_rows:
        return rows
    keep = np.sort(_sample_indices(rows, max_rows, seed))
    report.add(
        "warning",
        "too_many_rows",
        f"The file has {len(rows)} usable rows, more than the limit of {max_rows}; a random "
        f"sample of {max_rows} (seed {seed}, keeping the label proportions) is used and the "
        f"other {len(rows) - max_rows} are left out.",
        count=len(rows) - max_rows,
    )
    return [rows[i] for i in keep]


def _sample_indices(rows: list[Row], size: int, seed: int) -> np.ndarray:
    """Stratified by each row's rarest label when every label has two rows, else plain random."""
    counts = Counter(label for _, labels in rows for label in labels)
    strata = [min(labels, key=lambda label: (counts[label], label)) for _, labels in rows]
    stratum_sizes = Counter(strata)
    if min(stratum_sizes.values()) >= 2 and len(stratum_sizes) <= min(size, len(rows) - size):
        kept, _ = train_test_split(
            np.arange(len(rows)), train_size=size, random_state=seed, stratify=strata
        )
        return kept
    return np.random.default_rng(seed).choice(len(rows), size=size, replace=False)
