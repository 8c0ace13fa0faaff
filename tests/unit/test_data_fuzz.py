"""Property-based tests of reading uploads: whatever bytes arrive, the outcome is a data set or a
plain sentence, never a traceback and never a hang.

Each input family is one `@given` test; together they try more than 2,000 generated inputs,
derandomized so that CI sees the same ones every run. Outcomes are counted by class and written
to artifacts/fuzz_summary.json (and printed) when the module finishes.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertviz_lib import data
from bertviz_lib.config import PROBLEM_TYPE_CHOICES
from bertviz_lib.data import DataError, PreparedData, prepare, read_table

pytestmark = pytest.mark.slow  # hundreds of generated files per test
SUMMARY_PATH = Path(__file__).resolve().parents[2] / "artifacts" / "fuzz_summary.json"
SECONDS_PER_INPUT = 5.0

_OUTCOMES: dict[str, Counter[str]] = {}
_INPUTS: Counter[str] = Counter()
_STARTED = time.perf_counter()


def _settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=SECONDS_PER_INPUT * 1000,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary():
    """Written however the module ends, so a failing run still says what it tried."""
    yield
    summary = {
        "generated_inputs": sum(_INPUTS.values()),
        "inputs_by_family": dict(sorted(_INPUTS.items())),
        "outcomes": {
            family: dict(counts.most_common()) for family, counts in sorted(_OUTCOMES.items())
        },
        "prepare_outcomes_total": dict(
            sum((c for f, c in _OUTCOMES.items() if "read_table" not in f), Counter()).most_common()
        ),
        "read_table_outcomes_total": dict(
            sum((c for f, c in _OUTCOMES.items() if "read_table" in f), Counter()).most_common()
        ),
        "wall_seconds": round(time.perf_counter() - _STARTED, 1),
    }
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_PATH.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print("\nfuzz summary:", json.dumps(summary, indent=2))


# Checking one input ------------------------------------------------------------------------------

_NOT_A_SENTENCE = re.compile(
    r"Traceback|File \"|line \d+, in |<class |Error\(|Exception\(|C error|Error tokenizing"
    r"|\bNone\b$|object at 0x"
)


def _assert_sentence(message: str, counted: bool = False) -> None:
    """Errors open with a capital or a quote; warnings may open with their count ("3 rows ...")."""
    assert message and message.strip() == message, repr(message)
    opening = message[0].isupper() or message[0] in "'\"" or (counted and message[0].isdigit())
    assert opening, repr(message[:200])
    assert not _NOT_A_SENTENCE.search(message), repr(message[:300])


def _words(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def _run(family: str, raw: bytes, name: str | None, **options) -> None:
    """prepare lets only DataError through from reading (as an error finding); anything else
    raised, by reading, guessing, checking or splitting, fails the test."""
    _INPUTS[family] += 1
    counts = _OUTCOMES.setdefault(family, Counter())
    started = time.perf_counter()
    prepared = prepare(raw, name=name, token_counter=_words, **options)
    assert isinstance(prepared, PreparedData)
    for finding in prepared.report.findings:
        _assert_sentence(finding.message, counted=finding.severity != "error")
    if prepared.train is not None:
        assert prepared.report.ok and prepared.validation is not None
        assert len(prepared.train) >= 1 and len(prepared.validation) >= 1
        assert len(prepared.train) + len(prepared.validation) <= data.MAX_ROWS
        longest = max(map(len, prepared.train.texts + prepared.validation.texts))
        assert longest <= data.MAX_TEXT_CHARS
        counts["dataset"] += 1
    else:
        assert prepared.report.errors
        counts[f"DataError/{prepared.report.errors[0].code}"] += 1
    elapsed = time.perf_counter() - started
    assert elapsed < 2 * SECONDS_PER_INPUT, f"{elapsed:.1f} s for one input"


def _read(family: str, raw: bytes, name: str | None) -> None:
    """read_table on its own: a frame with unique column names, or a DataError sentence."""
    counts = _OUTCOMES.setdefault(f"{family} (read_table)", Counter())
    try:
        frame, report = read_table(raw, name=name)
    except DataError as error:
        _assert_sentence(str(error))
        counts["DataError"] += 1
        return
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0 and len(frame.columns) > 0
    assert frame.columns.is_unique
    for finding in report.findings:
        _assert_sentence(finding.message)
    data.guess_columns(frame)
    counts["frame"] += 1


# Strategies --------------------------------------------------------------------------------------

_NAMES = st.sampled_from([None, "up.csv", "up.tsv", "up.jsonl", "up.json", "up.txt", "UP.CSV"])
_BOMS = st.sampled_from(
    [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE]
)
_AWKWARD = st.sampled_from(
    ['"', '""', "'", ",", "\t", ";", "|", "\n", "\r\n", "\r", "\x00", "\ufeff", "\u2028", "é",
     "ü", "€", "😀", "\\", "{", "[", "]", "}", " ", "nan", "NaN", "None", "null", "NA", "#",
     "=1+1", "<b>", "1e309", "\ud800"]
)  # fmt: skip
_LABELS = st.one_of(
    st.sampled_from(["pos", "neg", "Pos", " pos ", "neutral", "a;b", "a; b;", ";", ""]),
    st.integers(-3, 3).map(str),
    st.sampled_from(["1.0", "01", "+1", "-0", "1e3", ".5", "nan", "NaN", "None", "null", "inf"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_TEXTS = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.text(max_size=8), _AWKWARD), max_size=8).map("".join),
    st.sampled_from(["a good film", "bad", "so so", "   ", ""]),
)
_HEADERS = st.one_of(
    st.sampled_from(["text", "label", "Text ", "LABEL", "review_text", "id", "", " ", "text"]),
    st.text(max_size=10),
    st.integers(-5, 5).map(str),
)
_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "mixed"])


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "mixed":  # UTF-8, with a cp1252 byte or two as a second program wrote them
        half = len(text) // 2
        utf8 = [part.encode(errors="replace") for part in (text[:half], text[half:])]
        return utf8[0] + "é€".encode("cp1252") + utf8[1]
    return text.encode(encoding, errors="replace")


def _delimited(header: list[str], rows: list[list[str]], sep: str, quote: bool) -> str:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    return "\n".join(sep.join(map(cell, row)) for row in [header, *rows]) + "\n"


@st.composite
def _tables(draw) -> tuple[bytes, str | None]:
    width = draw(st.integers(1, 5))
    header = draw(st.lists(_HEADERS, min_size=width, max_size=width))
    cells = st.one_of(_TEXTS, _LABELS)
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), min_size=0, max_size=12))
    if draw(st.booleans()) and rows:  # a ragged row
        rows[draw(st.integers(0, len(rows) - 1))].append(draw(cells))
    sep = draw(st.sampled_from([",", "\t", ";", "|"]))
    text = _delimited(header, rows, sep, quote=draw(st.booleans()))
    if draw(st.booleans()) and text:  # an unbalanced quote somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + '"' + text[at:]
    return _encode(text, draw(_ENCODINGS)), draw(_NAMES)


_JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        _TEXTS,
        _LABELS,
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _json_inputs(draw) -> tuple[bytes, str | None]:
    keys = st.one_of(st.sampled_from(["text", "label", "labels", "Text", ""]), st.text(max_size=6))
    records = draw(
        st.lists(st.dictionaries(keys, _JSON_VALUES, max_size=4), min_size=0, max_size=10)
    )
    shape = draw(
        st.sampled_from(["rows", "lines", "array", "wrapped", "scalar", "mixed", "broken"])
    )
    if shape == "rows":  # text and label in every record, so some inputs become data sets
        n = draw(st.integers(4, 12))
        records = [
            {
                "text": f"text {i} {draw(_TEXTS)}",
                "label": draw(st.sampled_from(["a", "b", 1, None])),
            }
            for i in range(n)
        ] + records
        text = "\n".join(json.dumps(r) for r in records)
    elif shape == "lines":
        text = "\n".join(json.dumps(r, ensure_ascii=draw(st.booleans())) for r in records)
    elif shape == "array":
        text = json.dumps(records, indent=draw(st.sampled_from([None, 2])))
    elif shape == "wrapped":
        text = json.dumps({"data": records, "meta": draw(_JSON_VALUES)})
    elif shape == "scalar":
        text = json.dumps(draw(_JSON_VALUES))
    elif shape == "mixed":
        text = "\n".join([json.dumps(r) for r in records] + [json.dumps(draw(_JSON_VALUES))])
    else:
        text = json.dumps(records)
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(_AWKWARD) + text[cut + 1 :]
    return _encode(text, draw(_ENCODINGS)), draw(_NAMES)


@st.composite
def _labelled(draw) -> tuple[bytes, str | None]:
    """Mostly well-formed text/label tables, so that prepare gets past reading to the labels."""
    n = draw(st.integers(0, 30))
    texts = [t.replace("\x00", "") for t in draw(st.lists(_TEXTS, min_size=n, max_size=n))]
    labels = draw(st.lists(_LABELS, min_size=n, max_size=n))
    rows = [[f"row {i} {t}", label] for i, (t, label) in enumerate(zip(texts, labels, strict=True))]
    text = _delimited(["text", "label"], rows, ",", quote=True)
    return text.encode(errors="replace"), "up.csv"


@st.composite
def _extremes(draw) -> tuple[bytes, str | None]:
    """One column, 5,000 columns, 1 MB cells, many rows, many NULs: built, not drawn, in bulk."""
    kind = draw(
        st.sampled_from(
            ["one_column", "wide", "wide_json", "huge_cell", "huge_label", "many_rows", "nuls",
             "duplicate_headers", "newlines_in_cells"]
        )
    )  # fmt: skip
    filler = draw(st.sampled_from(["x", "é", " ", ",", '"', "\n", "ab cd "]))
    labels = ["pos", "neg"]
    if kind == "one_column":
        text = "text\n" + "".join(f"{filler} {i}\n" for i in range(draw(st.integers(0, 50))))
    elif kind == "wide":
        width = draw(st.sampled_from([1000, 5000]))
        header = ",".join(["text", "label"] + [f"c{i}" for i in range(width - 2)])
        rows = [",".join([f"t {i}", labels[i % 2]] + ["v"] * (width - 2)) for i in range(8)]
        text = "\n".join([header, *rows]) + "\n"
    elif kind == "wide_json":
        text = "\n".join(
            json.dumps(
                {"text": f"t {i}", "label": labels[i % 2], **{f"c{j}": j for j in range(5000)}}
            )
            for i in range(6)
        )
    elif kind in ("huge_cell", "huge_label"):
        big = (filler * (1 << 20))[: 1 << 20]
        rows = [[f"text {i}", labels[i % 2]] for i in range(8)]
        rows[draw(st.integers(0, 7))][0 if kind == "huge_cell" else 1] = big
        text = _delimited(["text", "label"], rows, ",", quote=True)
    elif kind == "many_rows":
        n = draw(st.sampled_from([1000, 20000]))
        text = "text,label\n" + "".join(f"review {i},{labels[i % 2]}\n" for i in range(n))
    elif kind == "nuls":
        text = "text,label\n" + "a\x00b,pos\n" * draw(st.integers(1, 20))
    elif kind == "duplicate_headers":
        text = "text,text,label,label, ,\n" + "a,b,pos,neg,,\nc,d,neg,pos,,\n" * 5
    else:
        rows = [[f"line one\nline two {i}\r\n{filler}", labels[i % 2]] for i in range(10)]
        text = _delimited(["text", "label"], rows, draw(st.sampled_from([",", "\t"])), True)
    return _encode(text, draw(_ENCODINGS)), draw(_NAMES)


# Properties --------------------------------------------------------------------------------------


@_settings(500)
@given(prefix=_BOMS, body=st.binary(max_size=600), nul=st.booleans(), name=_NAMES)
def test_random_bytes(prefix: bytes, body: bytes, nul: bool, name: str | None):
    raw = prefix + (body + b"\x00" if nul else body)
    _read("random_bytes", raw, name)
    _run("random_bytes", raw, name)


@_settings(600)
@given(table=_tables(), problem=st.sampled_from(PROBLEM_TYPE_CHOICES), delim=st.sampled_from(";|,"))
def test_delimited_tables(table: tuple[bytes, str | None], problem: str, delim: str):
    raw, name = table
    _read("delimited", raw, name)
    _run("delimited", raw, name, problem_type=problem, label_delimiter=delim)


@_settings(500)
@given(document=_json_inputs())
def test_json_documents(document: tuple[bytes, str | None]):
    raw, name = document
    _run("json", raw, name)


@_settings(400)
@given(
    table=_labelled(),
    problem=st.sampled_from(PROBLEM_TYPE_CHOICES),
    max_rows=st.sampled_from([None, 0, 1, 5]),
    with_validation=st.booleans(),
)
def test_labels_of_every_kind(
    table: tuple[bytes, str | None], problem: str, max_rows: int | None, with_validation: bool
):
    raw, name = table
    options = {"problem_type": problem, "max_rows": max_rows}
    if with_validation:
        options |= {"validation_source": raw, "validation_name": name}
    _run("labels", raw, name, **options)


@_settings(60)
@given(table=_extremes())
def test_extreme_shapes(table: tuple[bytes, str | None]):
    raw, name = table
    _run("extremes", raw, name)
