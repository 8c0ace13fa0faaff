"""Reading an upload: CSV, TSV, JSON Lines or a JSON document, its format and delimiter sniffed,
cp1252 accepted, every cell a string (labels such as "01" arrive as typed), binary and oversized
files refused with a sentence.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bertviz_lib.config import LABEL_DELIMITER
from bertviz_lib.data.findings import DataError, DataReport

# Hard limits, enforced here whatever the app's or the CLI's settings say. The upload limit matches
# server.maxUploadSize (50 MB) in .streamlit/config.toml; the row limit caps `max_rows`, which only
# lowers it; texts past the character limit are cut (far beyond any model's max_length anyway).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


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


_SNIFF_CHARS = 64 * 1024


# csv.Sniffer's quote regexes take quadratic time on long runs of newlines or quotes (a quoted
# 1 MB cell of blank lines took over a minute), so it sees only this much; `_fields_agree` checks
# its answer on the whole sample.
_SNIFFER_CHARS = 4 * 1024


_SURROGATE = re.compile("[\ud800-\udfff]")


HEADER = "header"  # frame.attrs key: the column names as the file wrote them, stripped


class EmptyInput(DataError):
    """Told apart from other read errors because `prepare` reports it as `empty_file`."""


def read_table(
    source: bytes | str | Path, name: str | None = None
) -> tuple[pd.DataFrame, DataReport]:
    """Read an upload with every cell as a string, so labels such as "01" or "1.0" arrive as typed.

    `name` (the uploaded file's name) only picks the format; without it the content is sniffed.
    JSON lists are joined with `config.LABEL_DELIMITER`, so a list of labels reads as a
    multi-label cell.
    """
    return read_frame(source, name, LABEL_DELIMITER)


def read_frame(
    source: bytes | str | Path, name: str | None, list_delimiter: str
) -> tuple[pd.DataFrame, DataReport]:
    report = DataReport()
    raw, name = _load(source, name)
    text = _decode(raw, report)
    if not text.strip():
        raise EmptyInput("The file is empty.")
    frame = _parse(text, _format_of(text, name), list_delimiter)
    header = [str(column).strip() for column in frame.columns]
    frame.columns = _unique_names(frame.columns)
    frame.attrs[HEADER] = header  # the names as written, so prepare can say what was renamed
    if len(frame.columns) == 0:
        raise EmptyInput("The file holds no columns (only empty rows or empty JSON objects).")
    if len(frame) == 0:
        has_header = len(frame.columns) > 0
        raise EmptyInput(
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
        raise EmptyInput("The file is empty.") from None
    except (pd.errors.ParserError, csv.Error) as error:
        raise DataError(_parser_sentence(str(error), delimiter)) from None
    # The header is taken by hand so that names are stripped before they are made unique (in
    # read_frame, which remembers the names as written).
    table.columns = [str(name) for name in table.iloc[0].tolist()]
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
