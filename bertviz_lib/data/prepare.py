"""The calls the pages, the CLI and the trainer make: `prepare` reads, checks and splits an upload
without raising for bad input; `prepare_for_training` does it with a run's settings;
`validate` for a table already in memory; `labelled_for_evaluation` for scoring a trained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bertviz_lib.config import LABEL_DELIMITER, PROBLEM_TYPE_CHOICES, DataConfig, TrainConfig
from bertviz_lib.data.checks import check_all
from bertviz_lib.data.clean import clean_rows, problem_kind, sampled
from bertviz_lib.data.columns import guess_missing
from bertviz_lib.data.findings import DataError, DataReport
from bertviz_lib.data.labelled import LabelledData, PreparedData, ProblemType, TokenCounter
from bertviz_lib.data.labels import build_labelled, labelled_from_rows, whole_number
from bertviz_lib.data.read import HEADER, EmptyInput, read_frame
from bertviz_lib.data.split import split_or_keep
from bertviz_lib.data.wording import (
    column_list,
    has_control_characters,
    in_file,
    listing,
    quoted,
    visible,
)


def prepare(
    source: bytes | str | Path,
    *,
    name: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    problem_type: str = "auto",
    label_delimiter: str = LABEL_DELIMITER,
    validation_source: bytes | str | Path | None = None,
    validation_name: str | None = None,
    validation_fraction: float = 0.2,
    seed: int = 42,
    max_rows: int | None = None,
    max_length: int = 128,
    token_counter: TokenCounter | None = None,
) -> PreparedData:
    """Read, check and split an upload without raising for bad input.

    A person fixing a file wants every problem at once, so each one becomes a finding; `train`
    and `validation` are None when any finding is an error.
    """
    report = DataReport()
    frame = _read_reporting(source, name, label_delimiter, report, role="")
    held_out = None
    if validation_source is not None:
        held_out = _read_reporting(
            validation_source, validation_name, label_delimiter, report, role="Validation file"
        )
    if frame is None or (validation_source is not None and held_out is None):
        return PreparedData(None, None, report, text_column, label_column)
    prepared = validate(
        frame,
        validation_frame=held_out,
        text_column=text_column,
        label_column=label_column,
        problem_type=problem_type,
        label_delimiter=label_delimiter,
        validation_fraction=validation_fraction,
        seed=seed,
        max_rows=max_rows,
        max_length=max_length,
        token_counter=token_counter,
    )
    prepared.report.findings[:0] = report.findings
    return prepared


def prepare_for_training(
    source: bytes | str | Path,
    data_config: DataConfig,
    train_config: TrainConfig,
    *,
    name: str | None = None,
    validation_source: bytes | str | Path | None = None,
    validation_name: str | None = None,
    token_counter: TokenCounter | None = None,
) -> PreparedData:
    """`prepare` with a run's settings: the one way the Data page's preview, the command line
    and the app's worker (which runs the command line) read the data, so the split a user
    inspects is the split that trains (the seed, the problem type and max_length come from the
    training settings)."""
    return prepare(
        source,
        name=name,
        text_column=data_config.text_column,
        label_column=data_config.label_column,
        problem_type=train_config.problem_type,
        label_delimiter=data_config.label_delimiter,
        validation_source=validation_source,
        validation_name=validation_name,
        validation_fraction=data_config.validation_fraction,
        seed=train_config.seed,
        max_rows=data_config.max_rows,
        max_length=train_config.max_length,
        token_counter=token_counter,
    )


def labelled_for_evaluation(
    source: bytes | str | Path,
    label_names: Sequence[str],
    problem_type: ProblemType,
    *,
    name: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    label_delimiter: str = LABEL_DELIMITER,
) -> LabelledData:
    """A whole table, unsplit, in a trained model's label vocabulary (for `evaluate`).

    Labels are matched to the model's names the way training matched spellings; a label the
    model never learned raises DataError, since no score could count it fairly.
    """
    report = DataReport()
    frame = _read_reporting(source, name, label_delimiter, report, role="")
    if frame is not None:
        text, label = _choose_columns(frame, None, text_column, label_column, report)
    if not report.ok:
        raise DataError(" ".join(f.message for f in report.errors))
    kind = "multi_label" if problem_type == "multi_label" else "single_label"
    rows = clean_rows(frame, (text, label), kind, label_delimiter, report, role="")
    known = {" ".join(n.split()).casefold(): n for n in label_names}
    unknown = sorted({lab for _, labels in rows for lab in labels} - set(label_names))
    mapping = {lab: known.get(" ".join(whole_number(lab).split()).casefold()) for lab in unknown}
    missing = [lab for lab, target in mapping.items() if target is None]
    if missing:
        raise DataError(
            f"The labels {quoted(missing)} are not among the model's labels "
            f"({quoted(list(label_names))}); a model cannot be scored on classes it never learned."
        )
    if not rows:
        raise DataError("The file has no row with both a text and a label.")
    mapping.update({n: n for n in label_names})
    return build_labelled(rows, mapping, list(label_names), problem_type)


def _read_reporting(
    source: bytes | str | Path, name: str | None, delimiter: str, report: DataReport, role: str
) -> pd.DataFrame | None:
    try:
        frame, read_report = read_frame(source, name, delimiter)
    except DataError as error:
        code = "empty_file" if isinstance(error, EmptyInput) else "unreadable"
        report.add("error", code, in_file(role, str(error)))
        return None
    for finding in read_report.findings:
        report.add(finding.severity, finding.code, in_file(role, finding.message), finding.count)
    return frame


def validate(
    frame: pd.DataFrame,
    *,
    validation_frame: pd.DataFrame | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    problem_type: str = "auto",
    label_delimiter: str = LABEL_DELIMITER,
    validation_fraction: float = 0.2,
    seed: int = 42,
    max_rows: int | None = None,
    max_length: int = 128,
    token_counter: TokenCounter | None = None,
) -> PreparedData:
    """`prepare` for tables already in memory, e.g. a page that has shown the user a preview.

    Without `validation_frame` the rows are split by `split`; with it, the frame is all training
    data and the label set is the union of both, as Hugging Face's run_classification.py does.
    """
    report = DataReport()
    text, label = _choose_columns(frame, validation_frame, text_column, label_column, report)
    _check_control_characters(text, label, label_delimiter, report)
    for table, role in ((frame, ""), (validation_frame, "Validation file")):
        if table is not None:
            _report_renamed_columns(table, (text, label), role, report)
    if problem_type not in PROBLEM_TYPE_CHOICES:
        report.add(
            "error",
            "problem_type",
            f"Unknown problem type '{problem_type}'; choose one of "
            f"{', '.join(PROBLEM_TYPE_CHOICES)}.",
        )
    if not report.ok:
        return PreparedData(None, None, report, text, label)
    frames = [frame] if validation_frame is None else [frame, validation_frame]
    kind = problem_kind(problem_type, frames, label, label_delimiter, report)
    rows = clean_rows(frame, (text, label), kind, label_delimiter, report, role="")
    rows = sampled(rows, max_rows, seed, report)
    held = None
    if validation_frame is not None:
        held = clean_rows(
            validation_frame, (text, label), kind, label_delimiter, report, "Validation file"
        )
    data, held_out = labelled_from_rows(rows, held, kind, report)
    check_all(data, held_out, max_length, token_counter, report)
    train, validation = split_or_keep(data, held_out, validation_fraction, seed, report)
    return PreparedData(train, validation, report, text, label)


def _choose_columns(
    frame: pd.DataFrame,
    held_out: pd.DataFrame | None,
    text_column: str | None,
    label_column: str | None,
    report: DataReport,
) -> tuple[str | None, str | None]:
    text = _existing(frame, text_column, report)
    label = _existing(frame, label_column, report)
    if not report.ok:
        return text, label
    if text is not None and text == label:
        report.add("error", "same_column", f"'{text}' cannot be both the text and the label.")
        return text, label
    text, label = guess_missing(frame, text, label)
    _report_unguessed(frame, text, label, report)
    if held_out is not None and report.ok:
        _check_validation_columns(held_out, (text, label), report)
    return text, label


def _check_control_characters(
    text: str | None, label: str | None, delimiter: str, report: DataReport
) -> None:
    """A NUL or another control character in a column name or the delimiter cannot be passed on
    a command line (the app's training process is started with one), nor shown sensibly."""
    rename = "rename the column in the file, or choose another"
    for what, value, advice in (("text column's name", text, rename),
                                ("label column's name", label, rename),
                                ("label delimiter", delimiter, "type another one")):  # fmt: skip
        if value is not None and has_control_characters(value):
            report.add(
                "error",
                "control_characters",
                f"The {what}, '{visible(value)}', holds control characters (such as a NUL byte): "
                f"{advice}.",
            )


def _report_renamed_columns(
    frame: pd.DataFrame, chosen: tuple[str | None, str | None], role: str, report: DataReport
) -> None:
    """Columns that share a name are told apart by a suffix ('text', 'text.1'); say which one
    trains, or a header like `text,text,label` would train on one of them without a word."""
    header = frame.attrs.get(HEADER)
    if not header or len(header) != len(frame.columns):
        return
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(header):
        positions.setdefault(name, []).append(position)
    for name, shared in positions.items():
        if len(shared) < 2:
            continue
        kept, *renamed = shared
        renames = ", ".join(f"column {p + 1} was renamed '{frame.columns[p]}'" for p in renamed)
        used = [
            f"The {kind} column used is column {p + 1} ('{frame.columns[p]}')."
            for kind, column in zip(("text", "label"), chosen, strict=True)
            for p in shared
            if frame.columns[p] == column
        ]
        unused = "Neither is used." if len(shared) == 2 else "None of them is used."
        report.add(
            "warning",
            "duplicate_columns",
            in_file(
                role,
                f"The header has {len(shared)} columns named '{name}' (columns "
                f"{listing([str(p + 1) for p in shared], len(shared))}): column {kept + 1} keeps "
                f"the name and {renames}. " + (" ".join(used) if used else unused),
            ),
            count=len(renamed),
        )


def _check_validation_columns(
    held_out: pd.DataFrame, columns: tuple[str, str], report: DataReport
) -> None:
    """The validation file is read with the training file's columns, so it must have them."""
    for column in columns:
        if column not in held_out.columns:
            report.add(
                "error",
                "missing_column",
                f"Validation file: there is no column named '{column}'. "
                f"The columns are: {column_list(held_out)}.",
            )


def _existing(frame: pd.DataFrame, requested: str | None, report: DataReport) -> str | None:
    """Accept a name that differs only in case or spacing: that is what a person typed."""
    if requested is None:
        return None
    wanted = str(requested).strip()
    if wanted in frame.columns:
        return wanted
    similar = [c for c in frame.columns if str(c).strip().casefold() == wanted.casefold()]
    if len(similar) == 1:
        return similar[0]
    message = f"There is no column named '{requested}'. The columns are: {column_list(frame)}."
    report.add("error", "missing_column", message)
    return None


def _report_unguessed(
    frame: pd.DataFrame, text: str | None, label: str | None, report: DataReport
) -> None:
    columns = column_list(frame)
    if text is None:
        report.add(
            "error",
            "no_text_column",
            "No column looks like text (sentences that mostly differ from row to row). "
            f"The columns are: {columns}. Choose the text column yourself.",
        )
    if label is None and len(frame.columns) == 1:
        report.add(
            "error",
            "no_label_column",
            f"The file has only one column ({columns}); it needs a second one with the labels.",
        )
    elif label is None:
        report.add(
            "error",
            "no_label_column",
            "No column looks like labels (a few values repeated over many rows). "
            f"The columns are: {columns}. Choose the label column yourself.",
        )
