"""Reading labelled tables and deciding whether they are fit to train on.

People upload whatever their spreadsheet or script wrote, so reading is forgiving (format and
delimiter are sniffed, cp1252 is accepted) and checking is talkative: each problem becomes a
`Finding` with a plain sentence, counts and examples rather than an exception. `prepare` is the one
call the pages, the CLI and the trainer need; `validate` does the same for a table already in
memory, and `split` is the seeded, stratified split on its own. Cells are always read as strings,
and user text is never interpreted (HTML stays literal; escaping is render.py's job).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from bertviz_lib.config import LABEL_DELIMITER, PROBLEM_TYPE_CHOICES, DataConfig, TrainConfig

Severity = Literal["error", "warning", "info"]
ProblemType = Literal["single_label", "binary", "multi_label"]


class DataError(ValueError):
    """Input that cannot become a data set; the message is a sentence a user can act on."""


@dataclass(frozen=True)
class Finding:
    """One thing the checks noticed. `error` blocks training; `warning` and `info` inform."""

    severity: Severity
    code: str
    message: str
    count: int | None = None


@dataclass
class DataReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: Severity, code: str, message: str, count: int | None = None) -> None:
        self.findings.append(Finding(severity, code, message, count))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}


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

MIN_ROWS = 4
IMBALANCE_RATIO = 3.0
# Hard limits, enforced here whatever the app's or the CLI's settings say. The upload limit matches
# server.maxUploadSize (50 MB) in .streamlit/config.toml; the row limit caps `max_rows`, which only
# lowers it; texts past the character limit are cut (far beyond any model's max_length anyway).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000
MAX_TEXT_CHARS = 10_000

_DELIMITERS = ",\t;|"
_DELIMITER_NAMES = {",": "a comma", "\t": "a tab", ";": "a semicolon", "|": "a vertical bar"}
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_TEXT_NAMES = ("text", "sentence", "review", "comment", "content", "message", "body", "document")
_LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "category",
    "target",
    "sentiment",
    "emotion",
    "y",
    "tag",
)
_SNIFF_CHARS = 64 * 1024
# csv.Sniffer's quote regexes take quadratic time on long runs of newlines or quotes (a quoted
# 1 MB cell of blank lines took 75 s), so it sees only this much; `_fields_agree` checks its
# answer on the whole sample.
_SNIFFER_CHARS = 4 * 1024
_MAX_GUESSED_CLASSES = 1000
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WHOLE_NUMBER = re.compile(r"([+-]?\d+)(\.0*)?")
_INTEGER = re.compile(r"-?\d+")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _EmptyInput(DataError):
    """Told apart from other read errors because `prepare` reports it as `empty_file`."""


# Reading -----------------------------------------------------------------------------------------


def read_table(
    source: bytes | str | Path, name: str | None = None
) -> tuple[pd.DataFrame, DataReport]:
    """Read an upload with every cell as a string, so labels such as "01" or "1.0" arrive as typed.

    `name` (the uploaded file's name) only picks the format; without it the content is sniffed.
    JSON lists are joined with ";" so a list of labels reads as a multi-label cell.
    """
    return _read(source, name, LABEL_DELIMITER)


def _read(
    source: bytes | str | Path, name: str | None, list_delimiter: str
) -> tuple[pd.DataFrame, DataReport]:
    report = DataReport()
    raw, name = _load(source, name)
    text = _decode(raw, report)
    if not text.strip():
        raise _EmptyInput("The file is empty.")
    frame = _parse(text, _format_of(text, name), list_delimiter)
    frame.columns = _unique_names(frame.columns)
    if len(frame.columns) == 0:
        raise _EmptyInput("The file holds no columns (only empty rows or empty JSON objects).")
    if len(frame) == 0:
        has_header = len(frame.columns) > 0
        raise _EmptyInput(
            "The file has column names but no rows." if has_header else "The file holds no rows."
        )
    return frame, report


def _load(source: bytes | str | Path, name: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        _check_upload_size(len(raw))
        return raw, name
    path = Path(source)
    try:
        if path.is_file():
            _check_upload_size(path.stat().st_size)
        return path.read_bytes(), name or path.name
    except FileNotFoundError:
        raise DataError(f"There is no file at {path}.") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a file.") from None
    except OSError as error:
        raise DataError(f"Could not open {path}: {error.strerror or error}.") from None


def _check_upload_size(size: int) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise DataError(
            f"The file is {_megabytes(size)}, more than the limit of "
            f"{_megabytes(MAX_UPLOAD_BYTES)}. Upload a smaller sample of the rows."
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def _decode(raw: bytes, report: DataReport) -> str:
    """Most tools write UTF-8, but Excel on Windows still writes cp1252: accept it and say so."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError("The file starts like UTF-16 text but could not be decoded.") from None
    _reject_binary(raw[:8192])
    try:
        return raw.decode("utf-8-sig").lstrip("\ufeff")  # a tool that added a second BOM
    except UnicodeDecodeError as error:
        report.add(
            "warning",
            "encoding_fallback",
            f"The file is not valid UTF-8 (byte {error.start + 1} is the first that does not fit), "
            "so it was read as "
            "Windows-1252 (cp1252). Check accented letters in the preview; saving the file as "
            "UTF-8 avoids the guess.",
        )
        return raw.decode("cp1252", errors="replace")


def _reject_binary(head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise DataError(
            "The file looks like an Excel workbook or a zip archive, not text. "
            "Save it as CSV (or TSV, or JSON Lines) and upload that."
        )
    if b"\x00" in head:
        raise DataError(
            "The file is not text (it holds NUL bytes, so it looks binary). If it is UTF-16 "
            "text without a byte-order mark, save it as UTF-8."
        )


def _format_of(text: str, name: str | None) -> str:
    """The extension decides when it is a known one; otherwise the first character does."""
    suffix = Path(name).suffix.lower() if name else ""
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    return "json" if text.lstrip()[:1] in ("{", "[") else "delimited"


def _parse(text: str, form: str, list_delimiter: str) -> pd.DataFrame:
    if form in ("json", "jsonl"):
        return _records_frame(_json_records(text, lines_only=form == "jsonl"), list_delimiter)
    return _read_delimited(text, _delimiter_for(text, form))


def _delimiter_for(text: str, form: str) -> str:
    """A .csv that does not split on commas is usually a European export that uses semicolons."""
    if form == "tsv":
        return "\t"
    sample, truncated = _sample(text)
    if form == "csv" and _fields_agree(sample, ",", truncated):
        return ","
    return _sniff_delimiter(sample, truncated)


def _sample(text: str) -> tuple[str, bool]:
    """The start of the file, cut at a line end so that the sniffer never sees half a row."""
    if len(text) <= _SNIFF_CHARS:
        return text, False
    head = text[:_SNIFF_CHARS]
    return head[: head.rfind("\n") + 1] or head, True


def _sniff_delimiter(sample: str, truncated: bool) -> str:
    """csv.Sniffer first; it guesses wrong on text full of commas, so its answer is checked."""
    head = sample[:_SNIFFER_CHARS]
    if len(sample) > _SNIFFER_CHARS:
        head = head[: head.rfind("\n") + 1] or head
    try:
        sniffed = csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and _fields_agree(sample, sniffed, truncated):
        return sniffed
    agreeing = [d for d in _DELIMITERS if _fields_agree(sample, d, truncated)]
    return agreeing[0] if agreeing else sniffed or ","


def _fields_agree(sample: str, delimiter: str, truncated: bool) -> bool:
    """Every sampled row splits into the same number (more than one) of fields."""
    try:
        rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    except csv.Error:  # e.g. a lone carriage return inside a field: not this delimiter's fault
        return False
    if truncated and len(rows) > 1:
        rows = rows[:-1]
    widths = {len(row) for row in rows}
    return len(widths) == 1 and widths.pop() > 1


def _read_delimited(text: str, delimiter: str) -> pd.DataFrame:
    """Every cell as a string, and no silent repairs: ragged rows are errors the user can fix."""
    try:
        table = pd.read_csv(
            io.StringIO(text), sep=delimiter, header=None, dtype=str, keep_default_na=False
        )
    except pd.errors.EmptyDataError:
        raise _EmptyInput("The file is empty.") from None
    except (pd.errors.ParserError, csv.Error) as error:
        raise DataError(_parser_sentence(str(error), delimiter)) from None
    # The header is taken by hand so that names are stripped before they are made unique.
    table.columns = _unique_names(table.iloc[0].tolist())
    return table.iloc[1:].reset_index(drop=True)


def _parser_sentence(message: str, delimiter: str) -> str:
    ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if ragged:
        expected, line, seen = ragged.groups()
        return (
            f"Line {line} has {seen} fields but the header has {expected}. Put quotes around "
            f"text that contains the delimiter ({_DELIMITER_NAMES[delimiter]})."
        )
    if "EOF inside string" in message:
        return 'A quote (") opens a field that is never closed; check the quotes in the file.'
    return f"Could not read the file as a table: {message.strip()}."


def _json_records(text: str, lines_only: bool) -> list[dict]:
    """JSON Lines first; a whole JSON document (an array, or an object holding one) otherwise."""
    if not lines_only and text.lstrip().startswith("["):
        return _records_in(_json_document(text))
    try:
        records = _json_lines(text)
        return (_unwrapped(records[0]) or records) if len(records) == 1 else records
    except DataError as error:
        if lines_only:
            raise
        line_error = error
    try:
        return _records_in(json.loads(text))
    except json.JSONDecodeError:
        raise line_error from None


def _json_document(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"Could not parse the file as JSON: {error.msg} (line {error.lineno}, "
            f"column {error.colno})."
        ) from None


def _json_lines(text: str) -> list[dict]:
    records = []
    # Not splitlines(): JSON strings may hold U+2028 and friends, which it would split on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"Could not parse line {number} as JSON: {error.msg}.") from None
        if not isinstance(record, dict):
            raise DataError(f"Line {number} is not a JSON object; each line must hold one row.")
        records.append(record)
    return records


def _unwrapped(document: dict) -> list[dict] | None:
    """The rows of `{"data": [{...}, ...]}`, the other common shape of a JSON export."""
    lists = [value for value in document.values() if isinstance(value, list)]
    if len(lists) == 1 and lists[0] and all(isinstance(row, dict) for row in lists[0]):
        return lists[0]
    return None


def _records_in(document: object) -> list[dict]:
    if isinstance(document, dict):
        document = _unwrapped(document) or document
    if not isinstance(document, list) or not all(isinstance(row, dict) for row in document):
        raise DataError(
            "The JSON must be a list of objects, one per row, or one object on each line."
        )
    return document


def _records_frame(records: list[dict], list_delimiter: str) -> pd.DataFrame:
    columns = list(dict.fromkeys(key for record in records for key in record))
    rows = [[_cell_text(record.get(key), list_delimiter) for key in columns] for record in records]
    return pd.DataFrame(rows, columns=[_encodable(key) for key in columns], dtype=str)


def _cell_text(value: object, list_delimiter: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        pieces = (_cell_text(item, list_delimiter) for item in value)
        return list_delimiter.join(piece for piece in pieces if piece is not None)
    if isinstance(value, dict):
        return _encodable(json.dumps(value, ensure_ascii=False))
    return _encodable(str(value))


def _encodable(text: str) -> str:
    """JSON may escape half a surrogate pair ("\\ud800"), which no UTF-8 text can hold: show it
    as the replacement character rather than fail later in pandas or on the page."""
    return _SURROGATE.sub("\ufffd", text)


def _unique_names(columns: Sequence[object]) -> list[str]:
    """Strip header whitespace, then keep names unique the way pandas does (`a`, `a.1`)."""
    names: list[str] = []
    for position, column in enumerate(columns):
        base = str(column).strip() or f"Unnamed: {position}"
        name, suffix = base, 0
        while name in names:
            suffix += 1
            name = f"{base}.{suffix}"
        names.append(name)
    return names


# Column guessing ---------------------------------------------------------------------------------


def guess_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """Pick the columns a person most likely means, so that most uploads need no choice at all.

    Names decide first ("text", "review_text", "label", ...); otherwise the text is the column of
    longest, mostly distinct strings and the label a column that repeats a few values.
    """
    return _guess(frame, None, None)


def _guess(
    frame: pd.DataFrame, text: str | None, label: str | None
) -> tuple[str | None, str | None]:
    named_text = text or _named(frame, _TEXT_NAMES, exclude=label, texty=True)
    named_label = label or _named(frame, _LABEL_NAMES, exclude=named_text)
    text = named_text or _texty_column(frame, exclude=named_label)
    label = named_label or _labelly_column(frame, exclude=text)
    return text, label


def _named(
    frame: pd.DataFrame, vocabulary: tuple[str, ...], exclude: str | None, texty: bool = False
) -> str | None:
    """An exact name wins over a name that merely contains the word ("review_text")."""
    ranked = []
    for position, column in enumerate(frame.columns):
        name = str(column).strip().lower()
        words = re.findall(r"[a-z]+", name)
        if column == exclude:
            continue
        if name in vocabulary:
            ranked.append((0, vocabulary.index(name), position, column))
        elif hits := [vocabulary.index(word) for word in words if word in vocabulary]:
            if texty and ("id" in words or _all_numeric(_values(frame[column]))):
                continue
            ranked.append((1, min(hits), position, column))
    return min(ranked)[-1] if ranked else None


def _texty_column(frame: pd.DataFrame, exclude: str | None) -> str | None:
    ranked = []
    for column in frame.columns:
        values = _values(frame[column])
        if column == exclude or not values or _all_numeric(values):
            continue
        if len(set(values)) >= 0.5 * len(values):
            ranked.append((sum(map(len, values)) / len(values), column))
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else None


def _labelly_column(frame: pd.DataFrame, exclude: str | None) -> str | None:
    """Few distinct values for many rows; two or more beat a constant column, fewer beat more."""
    ranked = []
    for position, column in enumerate(frame.columns):
        values = _values(frame[column])
        if column == exclude or not values:
            continue
        distinct = len(_distinct_labels(values))
        if distinct <= min(0.5 * len(values), _MAX_GUESSED_CLASSES):
            ranked.append((distinct < 2, distinct, -position, column))
    return min(ranked)[-1] if ranked else None


def _values(series: pd.Series) -> list[str]:
    stripped = series.dropna().astype(str).str.strip()
    return stripped[stripped != ""].tolist()


def _distinct_labels(values: list[str]) -> set[str]:
    """Count the labels of a multi-label column, not its many combinations."""
    pieces = [_split_cell(value, LABEL_DELIMITER) for value in values]
    if any(len(row) > 1 for row in pieces):
        return {piece for row in pieces for piece in row}
    return set(values)


def _all_numeric(values: list[str]) -> bool:
    return all(_NUMBER.fullmatch(value) for value in values)


# Preparing ---------------------------------------------------------------------------------------


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
    rows = _clean(frame, (text, label), kind, label_delimiter, report, role="")
    known = {" ".join(n.split()).casefold(): n for n in label_names}
    unknown = sorted({lab for _, labels in rows for lab in labels} - set(label_names))
    mapping = {lab: known.get(" ".join(_whole_number(lab).split()).casefold()) for lab in unknown}
    missing = [lab for lab, target in mapping.items() if target is None]
    if missing:
        raise DataError(
            f"The labels {_quoted(missing)} are not among the model's labels "
            f"({_quoted(list(label_names))}); a model cannot be scored on classes it never learned."
        )
    if not rows:
        raise DataError("The file has no row with both a text and a label.")
    mapping.update({n: n for n in label_names})
    return _build(rows, mapping, list(label_names), problem_type)


def _read_reporting(
    source: bytes | str | Path, name: str | None, delimiter: str, report: DataReport, role: str
) -> pd.DataFrame | None:
    try:
        frame, read_report = _read(source, name, delimiter)
    except DataError as error:
        code = "empty_file" if isinstance(error, _EmptyInput) else "unreadable"
        report.add("error", code, _in_file(role, str(error)))
        return None
    for finding in read_report.findings:
        report.add(finding.severity, finding.code, _in_file(role, finding.message), finding.count)
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
    kind = _problem_kind(problem_type, frames, label, label_delimiter, report)
    rows = _clean(frame, (text, label), kind, label_delimiter, report, role="")
    rows = _sampled(rows, max_rows, seed, report)
    held = None
    if validation_frame is not None:
        held = _clean(
            validation_frame, (text, label), kind, label_delimiter, report, "Validation file"
        )
    data, held_out = _labelled(rows, held, kind, report)
    _check(data, held_out, max_length, token_counter, report)
    train, validation = _split_or_keep(data, held_out, validation_fraction, seed, report)
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
    text, label = _guess(frame, text, label)
    _report_unguessed(frame, text, label, report)
    if held_out is not None and report.ok:
        _check_validation_columns(held_out, (text, label), report)
    return text, label


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
                f"The columns are: {_column_list(held_out)}.",
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
    message = f"There is no column named '{requested}'. The columns are: {_column_list(frame)}."
    report.add("error", "missing_column", message)
    return None


def _report_unguessed(
    frame: pd.DataFrame, text: str | None, label: str | None, report: DataReport
) -> None:
    columns = _column_list(frame)
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


def _problem_kind(
    requested: str,
    frames: list[pd.DataFrame],
    label: str,
    delimiter: str,
    report: DataReport,
) -> ProblemType:
    """Cells that split into several labels mean multi-label, unless the user said otherwise."""
    cells = [cell for frame in frames for cell in _values(frame[label])]
    several = [cell for cell in cells if len(_split_cell(cell, delimiter)) > 1]
    if requested == "multi_label" or (requested == "auto" and several):
        return "multi_label"
    if several:
        report.add(
            "error",
            "problem_type",
            f"The label column has several labels separated by '{delimiter}' in "
            f"{_count(len(several), 'row')} (for example '{_excerpt(several[0])}'), but the "
            f"problem type is {requested}. Choose multi_label, or a different label delimiter.",
            count=len(several),
        )
    return "single_label" if requested == "auto" else requested


def _split_cell(cell: str, delimiter: str) -> list[str]:
    pieces = cell.split(delimiter) if delimiter and delimiter in cell else [cell]
    return [piece.strip() for piece in pieces if piece.strip()]


def _clean(
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
        return tuple(dict.fromkeys(_split_cell(cell, delimiter)))
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
    shown = _listing([str(n) for n in numbers[:5]], len(numbers))
    report.add(
        "warning",
        code,
        _in_file(
            role,
            f"{_count(len(numbers), 'row')} {_has(len(numbers))} {lack} and "
            f"{'was' if len(numbers) == 1 else 'were'} left out (row{_s(numbers)} {shown}, "
            "counting data rows from 1).",
        ),
        count=len(numbers),
    )


def _report_cut(numbers: list[int], role: str, report: DataReport) -> None:
    if not numbers:
        return
    shown = _listing([str(n) for n in numbers[:5]], len(numbers))
    report.add(
        "warning",
        "text_cut",
        _in_file(
            role,
            f"{_count(len(numbers), 'text')} {'is' if len(numbers) == 1 else 'are'} longer than "
            f"{MAX_TEXT_CHARS:,} characters and {'was' if len(numbers) == 1 else 'were'} cut to "
            f"that length (row{_s(numbers)} {shown}, counting data rows from 1).",
        ),
        count=len(numbers),
    )


def _sampled(rows: list[Row], max_rows: int | None, seed: int, report: DataReport) -> list[Row]:
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


# Labels ------------------------------------------------------------------------------------------


def _labelled(
    rows: list[Row], held: list[Row] | None, kind: ProblemType, report: DataReport
) -> tuple[LabelledData, LabelledData | None]:
    """One label vocabulary for both files, so a label means the same class on either side."""
    everything = rows + (held or [])
    mapping = _canonical_labels([label for _, labels in everything for label in labels], report)
    names = _sorted_labels(set(mapping.values()))
    data = _build(rows, mapping, names, kind)
    return data, (None if held is None else _build(held, mapping, names, kind))


def _canonical_labels(labels: list[str], report: DataReport) -> dict[str, str]:
    """Treat "1.0" as 1, and "Positive" and "POSITIVE" as one class typed two ways."""
    numbered = {label: _whole_number(label) for label in labels}
    counts = Counter(numbered[label] for label in labels)
    merges = _spelling_merges(counts)
    _report_merges(merges, counts, report)
    return {label: merges.get(number, number) for label, number in numbered.items()}


def _whole_number(label: str) -> str:
    match = _WHOLE_NUMBER.fullmatch(label)
    return str(int(match.group(1))) if match else label


def _spelling_merges(counts: Counter[str]) -> dict[str, str]:
    groups: dict[str, list[str]] = defaultdict(list)
    for label in counts:
        groups[" ".join(label.split()).casefold()].append(label)
    merges = {}
    for spellings in groups.values():
        keep = max(spellings, key=counts.__getitem__)
        merges.update({spelling: keep for spelling in spellings if spelling != keep})
    return merges


def _report_merges(merges: dict[str, str], counts: Counter[str], report: DataReport) -> None:
    if not merges:
        return
    into: dict[str, list[str]] = defaultdict(list)
    for spelling, keep in merges.items():
        into[keep].append(f"'{spelling}' ({_count(counts[spelling], 'row')})")
    parts = [f"{_listing(sources, len(sources))} into '{keep}'" for keep, sources in into.items()]
    report.add(
        "warning",
        "label_spelling",
        "Some labels differ only in upper/lower case or spacing, so they were merged into their "
        f"most frequent spelling: {'; '.join(parts)}.",
        count=len(merges),
    )


def _sorted_labels(labels: set[str]) -> list[str]:
    if labels and all(_INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels, key=lambda label: (label.casefold(), label))


def _build(
    rows: list[Row], mapping: dict[str, str], names: list[str], kind: ProblemType
) -> LabelledData:
    order = {name: i for i, name in enumerate(names)}
    labels = [tuple(sorted({mapping[label] for label in row}, key=order.get)) for _, row in rows]
    return LabelledData([text for text, _ in rows], labels, names, kind)


# Checks ------------------------------------------------------------------------------------------


def _check(
    data: LabelledData,
    held_out: LabelledData | None,
    max_length: int,
    token_counter: TokenCounter | None,
    report: DataReport,
) -> None:
    counts = Counter(label for row in data.labels for label in row)
    _check_size(data, held_out, report)
    _check_classes(counts, data, report)
    _check_balance(counts, report)
    _check_duplicates(data, report)
    if held_out is not None:
        _check_overlap(data, held_out, report)
    texts = data.texts + (held_out.texts if held_out is not None else [])
    _check_lengths(texts, max_length, token_counter, report)


def _check_size(data: LabelledData, held_out: LabelledData | None, report: DataReport) -> None:
    if len(data) < MIN_ROWS:
        report.add(
            "error",
            "too_few_rows",
            f"Only {_count(len(data), 'usable row')} {'is' if len(data) == 1 else 'are'} left; "
            f"at least {MIN_ROWS} are needed to train and validate.",
            count=len(data),
        )
    if held_out is not None and len(held_out) == 0:
        report.add("error", "too_few_rows", "The validation file has no usable rows.", count=0)


def _check_classes(counts: Counter[str], data: LabelledData, report: DataReport) -> None:
    if len(counts) == 1:
        only = next(iter(counts))
        what = (
            "Every row has the label" if data.problem_type != "multi_label" else "The only label is"
        )
        report.add(
            "error",
            "one_class",
            f"{what} '{only}'; a classifier needs at least two different labels to learn from.",
        )
    if data.problem_type == "binary" and len(data.label_names) != 2:
        report.add(
            "error",
            "problem_type",
            f"A binary problem needs exactly 2 labels, but the data has {len(data.label_names)}: "
            f"{_quoted(data.label_names)}. Choose single_label instead.",
            count=len(data.label_names),
        )
    rare = [label for label in data.label_names if 0 < counts[label] < 2]
    if rare:
        report.add(
            "warning",
            "rare_class",
            f"{_count(len(rare), 'label')} {_has(len(rare))} only one example ({_quoted(rare)}); "
            "the model can hardly learn a class from a single row. Add examples or remove it.",
            count=len(rare),
        )


def _check_balance(counts: Counter[str], report: DataReport) -> None:
    if len(counts) < 2:
        return
    (big, most), (small, least) = counts.most_common()[0], counts.most_common()[-1]
    ratio = most / least
    if ratio >= IMBALANCE_RATIO:
        report.add(
            "warning",
            "imbalance",
            f"The labels are unbalanced: '{big}' has {_count(most, 'row')} and '{small}' only "
            f"{least} ({ratio:.1f} to 1). The model may favour '{big}'; consider class weights "
            "or more examples of the small classes.",
        )
    else:
        report.add(
            "info",
            "class_balance",
            f"The labels are fairly balanced: the largest, '{big}' ({_count(most, 'row')}), is "
            f"{ratio:.1f} times the smallest, '{small}' ({least}).",
        )


def _check_duplicates(data: LabelledData, report: DataReport) -> None:
    pairs = Counter(zip(data.texts, data.labels, strict=True))
    repeats = sum(n - 1 for n in pairs.values())
    if repeats:
        example = next(text for (text, _), n in pairs.items() if n > 1)
        report.add(
            "info",
            "duplicates",
            f"{_count(repeats, 'row')} {'repeats' if repeats == 1 else 'repeat'} an earlier row "
            f"exactly (same text, same label), for example '{_excerpt(example)}'. They were kept; "
            "a repeated row counts more in training.",
            count=repeats,
        )
    labels_of: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for text, labels in pairs:
        labels_of[text].append(labels)
    conflicts = [text for text, options in labels_of.items() if len(options) > 1]
    if conflicts:
        shown = " and ".join(f"'{';'.join(o)}'" for o in labels_of[conflicts[0]][:3])
        report.add(
            "warning",
            "conflicting_duplicates",
            f"{_count(len(conflicts), 'text')} {'appears' if len(conflicts) == 1 else 'appear'} "
            f"with different labels, for example '{_excerpt(conflicts[0])}' as {shown}. They "
            "were kept as they are; check which label is right.",
            count=len(conflicts),
        )


def _check_overlap(data: LabelledData, held_out: LabelledData, report: DataReport) -> None:
    shared = sorted(set(data.texts) & set(held_out.texts))
    if shared:
        report.add(
            "warning",
            "validation_overlap",
            f"{_count(len(shared), 'text')} of the validation file also "
            f"{'appears' if len(shared) == 1 else 'appear'} in the training file (for example "
            f"'{_excerpt(shared[0])}'); validation scores on them overstate how well the model "
            "does on new text.",
            count=len(shared),
        )


def _check_lengths(
    texts: list[str], max_length: int, token_counter: TokenCounter | None, report: DataReport
) -> None:
    """Texts past max_length are cut, and a label that depends on the ending is then unlearnable."""
    if token_counter is None or not texts:
        return
    lengths = [int(n) for n in token_counter(texts)]
    over = [i for i, n in enumerate(lengths) if n > max_length]
    if over:
        longest = max(over, key=lengths.__getitem__)
        report.add(
            "warning",
            "too_long",
            f"{len(over)} of {len(texts)} texts ({_share(len(over), len(texts))}) are longer "
            f"than {max_length} tokens and will be cut to {max_length}; the longest, "
            f"'{_excerpt(texts[longest])}', has {lengths[longest]}. Raise the maximum length if "
            "their endings matter.",
            count=len(over),
        )
    else:
        report.add(
            "info",
            "lengths",
            f"All {len(texts)} texts (100%) fit in {max_length} tokens; the longest has "
            f"{max(lengths)} and the median {int(np.median(lengths))}.",
        )


# Splitting ---------------------------------------------------------------------------------------


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
            f"A table of {_count(rows, 'row')} cannot be split into training and validation."
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
            f"{_count(len(lonely), 'label')} {_has(len(lonely))} a single row "
            f"({_quoted(lonely)}), {fallback}",
            len(lonely),
        )
    if min(held, kept) < len(counts):
        side = "validation" if held <= kept else "training"
        return Finding(
            "warning",
            "not_stratified",
            f"The {side} side would have {_count(min(held, kept), 'row')}, fewer than the "
            f"{len(counts)} labels, {fallback}",
        )
    return None


def _split_or_keep(
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
            f"{_count(len(unseen), 'label')} in the validation data never "
            f"{'appears' if len(unseen) == 1 else 'appear'} in the training data "
            f"({_quoted(unseen)}); the model never sees an example of "
            f"{'it' if len(unseen) == 1 else 'them'}, so it cannot learn to predict "
            f"{'it' if len(unseen) == 1 else 'them'}.",
            count=len(unseen),
        )


# Wording -----------------------------------------------------------------------------------------


def _in_file(role: str, message: str) -> str:
    return f"{role}: {message}" if role else message


def _column_list(frame: pd.DataFrame) -> str:
    return _quoted([str(c) for c in frame.columns], limit=10)


def _quoted(items: Sequence[str], limit: int = 5) -> str:
    return _listing([f"'{_excerpt(item)}'" for item in items[:limit]], len(items))


def _listing(shown: list[str], total: int) -> str:
    """'a', 'b' and 'c' -- or 'a', 'b' and 4 more when only some are shown."""
    if not shown:
        return "none"
    if total > len(shown):
        return f"{', '.join(shown)} and {total - len(shown)} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _has(n: int) -> str:
    return "has" if n == 1 else "have"


def _s(items: Sequence[object]) -> str:
    return "" if len(items) == 1 else "s"


def _share(part: int, whole: int) -> str:
    share = part / whole
    return "under 1%" if 0 < share < 0.01 else f"{share:.0%}"
