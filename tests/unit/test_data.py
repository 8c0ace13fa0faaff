"""Reading, checking and splitting uploads, each built inline as the bytes a user would send."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bertviz_lib import data as data_module
from bertviz_lib.data import (
    DataError,
    Finding,
    LabelledData,
    PreparedData,
    guess_columns,
    prepare,
    read_table,
    split,
    validate,
)


def _csv(rows: list[tuple[str, str]], header: str = "text,label", sep: str = ",") -> bytes:
    lines = [header] + [sep.join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _balanced(per_class: int = 10, labels: tuple[str, ...] = ("neg", "pos")) -> bytes:
    return _csv(
        [(f"{label} review number {i}", label) for label in labels for i in range(per_class)]
    )


def _only(prepared: PreparedData, code: str) -> Finding:
    found = [f for f in prepared.report.findings if f.code == code]
    assert len(found) == 1, prepared.report.findings
    return found[0]


def _words_plus_two(texts: list[str]) -> list[int]:
    return [len(text.split()) + 2 for text in texts]


# A clean upload ----------------------------------------------------------------------------------


def test_clean_input_is_ok_and_split():
    prepared = prepare(_balanced(), name="reviews.csv")
    assert prepared.report.ok
    assert prepared.report.errors == [] and prepared.report.warnings == []
    assert (prepared.text_column, prepared.label_column) == ("text", "label")
    assert len(prepared.train) == 16 and len(prepared.validation) == 4
    assert prepared.train.label_names == ["neg", "pos"]
    assert prepared.train.problem_type == "single_label"
    assert "class_balance" in prepared.report.codes()


# Reading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b'text,label\n"hello, world",pos\nbad,neg\n', None),
        (b'text,label\n"hello, world",pos\nbad,neg\n', "upload.csv"),
        (b"text\tlabel\nhello, world\tpos\nbad\tneg\n", None),
        (b"text\tlabel\nhello, world\tpos\nbad\tneg\n", "upload.tsv"),
        (b"text;label\nhello, world;pos\nbad;neg\n", None),
        (b"text;label\nhello, world;pos\nbad;neg\n", "european.csv"),
        (b"text|label\nhello, world|pos\nbad|neg\n", "upload.txt"),
        (b'{"text": "hello, world", "label": "pos"}\n{"text": "bad", "label": "neg"}\n', None),
        (b'{"text": "hello, world", "label": "pos"}\n\n{"text": "bad", "label": "neg"}', "a.jsonl"),
        (b'[{"text": "hello, world", "label": "pos"}, {"text": "bad", "label": "neg"}]', None),
        (
            b'{"rows": [{"text": "hello, world", "label": "pos"}, '
            b'{"text": "bad", "label": "neg"}]}',
            "export.json",
        ),
    ],
)
def test_read_table_formats(raw, name):
    frame, report = read_table(raw, name)
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == ["hello, world", "bad"]
    assert frame["label"].tolist() == ["pos", "neg"]
    assert report.findings == []


def test_read_table_keeps_cells_as_typed_strings():
    frame, _ = read_table(b"text,label,score\nhi,01,1.0\nyo,NA,\n")
    assert frame["label"].tolist() == ["01", "NA"]
    assert frame["score"].tolist() == ["1.0", ""]


def test_read_table_from_a_path(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_bytes(b"text\tlabel\na, b\tx\n")
    frame, _ = read_table(path)
    assert frame.values.tolist() == [["a, b", "x"]]
    frame, _ = read_table(str(path))
    assert frame.values.tolist() == [["a, b", "x"]]


def test_utf8_bom_is_stripped():
    frame, report = read_table("\ufefftext,label\ncafé,x\n".encode())
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == ["café"]
    assert report.findings == []


def test_cp1252_falls_back_with_a_warning():
    raw = b"text,label\ncaf\xe9 au lait,drink\n"
    frame, report = read_table(raw)
    assert frame["text"].tolist() == ["café au lait"]
    assert [(f.severity, f.code) for f in report.findings] == [("warning", "encoding_fallback")]
    assert "cp1252" in report.findings[0].message


def test_json_lines_lists_and_scalars_become_strings():
    raw = b'{"text": "a", "labels": ["x", "y"], "n": 1, "ok": true, "gone": null}\n'
    frame, _ = read_table(raw, "rows.jsonl")
    row = frame.iloc[0]
    assert (row["labels"], row["n"], row["ok"]) == ("x;y", "1", "true")
    assert pd.isna(row["gone"])


def test_header_names_are_stripped_and_made_unique():
    frame, _ = read_table(b" text ,text,label , \nhi,there,x,y\n")
    assert list(frame.columns) == ["text", "text.1", "label", "Unnamed: 3"]


@pytest.mark.parametrize("raw", [b"", b"   \n\n  ", "\ufeff".encode()])
def test_empty_file(raw):
    with pytest.raises(DataError, match="The file is empty."):
        read_table(raw)
    prepared = prepare(raw)
    assert [(f.severity, f.code) for f in prepared.report.findings] == [("error", "empty_file")]
    assert prepared.train is None and prepared.validation is None


def test_header_without_rows_is_empty():
    prepared = prepare(b"text,label\n", name="a.csv")
    assert _only(prepared, "empty_file").message == "The file has column names but no rows."


@pytest.mark.parametrize(
    ("raw", "name", "words"),
    [
        (b"\x00\x01\x02\x03binary", None, "not text"),
        (b"PK\x03\x04 workbook", "book.csv", "Excel"),
        (b'{"text": "a", "label": "x"}\n{"text": oops}\n', None, "line 2 as JSON"),
        (b'{"text": "a"}\n[1, 2]\n', "a.jsonl", "Line 2 is not a JSON object"),
        (b"text,label\na,b\nc,d,e\n", None, "Line 3 has 3 fields"),
        (b'text,label\n"never closed,x\n', None, "never closed"),
    ],
)
def test_unreadable(raw, name, words):
    with pytest.raises(DataError, match=words):
        read_table(raw, name)
    prepared = prepare(raw, name=name)
    finding = _only(prepared, "unreadable")
    assert finding.severity == "error" and words in finding.message
    assert prepared.train is None


def test_missing_file_is_unreadable(tmp_path):
    prepared = prepare(tmp_path / "nope.csv")
    assert "There is no file" in _only(prepared, "unreadable").message


# Column guessing ---------------------------------------------------------------------------------


def _frame(raw: bytes) -> pd.DataFrame:
    return read_table(raw)[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"id,Review,Sentiment\n1,good film,pos\n2,bad film,neg\n", ("Review", "Sentiment")),
        (
            b"review_id,review_text,stars\na1,loved it,5\nb2,hated it,1\nc3,fine,5\nd4,meh,1\n",
            ("review_text", "stars"),
        ),
        (
            b"col1,col2,col3\n1,I loved it a lot,pos\n2,Hated every minute,neg\n"
            b"3,It was fine I guess,pos\n4,Never again thanks,neg\n",
            ("col2", "col3"),
        ),
        (b"text\nhello there\nhow are you\n", ("text", None)),
        (b"a,b\n1,2\n3,4\n", (None, None)),
    ],
)
def test_guess_columns(raw, expected):
    assert guess_columns(_frame(raw)) == expected


def test_guess_never_returns_one_column_twice():
    frame = pd.DataFrame({"label": ["a", "b", "a", "b"], "x": ["1", "2", "3", "4"]})
    text, label = guess_columns(frame)
    assert label == "label" and text != label


def test_explicit_columns_override_the_guess():
    raw = _csv(
        [(f"title {i}", f"body text number {i}", "pos" if i % 2 else "neg") for i in range(10)],
        header="title,text,label",
    )
    prepared = prepare(raw, text_column="title")
    assert prepared.report.ok
    assert (prepared.text_column, prepared.label_column) == ("title", "label")
    assert all(text.startswith("title") for text in prepared.train.texts)


def test_missing_column_names_the_columns():
    prepared = prepare(_balanced(), label_column="category")
    finding = _only(prepared, "missing_column")
    assert finding.severity == "error"
    assert "'category'" in finding.message and "'text' and 'label'" in finding.message
    assert prepared.train is None


def test_no_text_column():
    prepared = prepare(_csv([(str(i), str(i % 2)) for i in range(10)], header="a,b"))
    assert _only(prepared, "no_text_column").severity == "error"
    assert prepared.train is None


def test_no_label_column_for_a_single_column():
    prepared = prepare(b"text\nhello there\nhow are you\nfine thanks\nand you\n")
    finding = _only(prepared, "no_label_column")
    assert finding.severity == "error" and "only one column" in finding.message


def test_no_label_column_when_every_value_differs():
    raw = _csv([(f"text {i}", f"note {i}") for i in range(6)], header="text,note")
    assert _only(prepare(raw), "no_label_column").severity == "error"


# Cleaning ----------------------------------------------------------------------------------------


def test_missing_text_and_labels_are_counted_and_dropped():
    rows = [(f"neg text {i}", "neg") for i in range(5)] + [
        (f"pos text {i}", "pos") for i in range(5)
    ]
    rows += [("", "pos"), ("   ", "neg"), ("no label here", ""), ("nor here", "  ")]
    prepared = prepare(_csv(rows))
    missing_text, missing_label = _only(prepared, "missing_text"), _only(prepared, "missing_label")
    assert (missing_text.severity, missing_text.count) == ("warning", 2)
    assert (missing_label.severity, missing_label.count) == ("warning", 2)
    assert "rows 11 and 12" in missing_text.message
    assert len(prepared.train) + len(prepared.validation) == 10


def test_texts_are_stripped_but_otherwise_untouched():
    script = "<script>alert(1)</script> &amp; <b>bold</b>"
    rows = [(f'"  {script}  {i}  "', "a" if i % 2 else "b") for i in range(8)]
    prepared = prepare(_csv(rows), seed=0)
    texts = sorted(prepared.train.texts + prepared.validation.texts)
    assert texts == [f"{script}  {i}" for i in range(8)]


def test_label_spelling_variants_are_merged():
    labels = ["positive", "positive", "Positive", "POSITIVE ", " positive", "negative", "negative"]
    labels += ["Negative", "negative", "negative"]
    prepared = prepare(_csv([(f"text {i}", label) for i, label in enumerate(labels)]))
    finding = _only(prepared, "label_spelling")
    assert (finding.severity, finding.count) == ("warning", 3)
    assert "'Positive'" in finding.message and "into 'positive'" in finding.message
    assert prepared.train.label_names == ["negative", "positive"]


def test_duplicates_and_conflicts_are_kept_and_counted():
    rows = [(f"neg {i}", "neg") for i in range(4)] + [(f"pos {i}", "pos") for i in range(4)]
    rows += [("neg 0", "neg"), ("neg 0", "neg"), ("same text", "neg"), ("same text", "pos")]
    rows += [("other", "pos"), ("other", "neg")]
    prepared = prepare(_csv(rows))
    duplicates, conflicts = _only(prepared, "duplicates"), _only(prepared, "conflicting_duplicates")
    assert (duplicates.severity, duplicates.count) == ("info", 2)
    assert (conflicts.severity, conflicts.count) == ("warning", 2)
    assert len(prepared.train) + len(prepared.validation) == len(rows)


# Labels and problem types ------------------------------------------------------------------------


def test_integer_labels_are_normalised_and_sorted_numerically():
    labels = ["10", "2", "2.0", "10", "2", "10.0", "01", "1", "1"]
    prepared = prepare(_csv([(f"text {i}", label) for i, label in enumerate(labels)]))
    assert prepared.report.ok
    data = prepared.train
    assert data.label_names == ["1", "2", "10"]
    all_labels = prepared.train.labels + prepared.validation.labels
    assert Counter(row[0] for row in all_labels) == {"1": 3, "2": 3, "10": 3}
    assert set(data.label_ids()) <= {0, 1, 2}


def test_words_sort_case_insensitively():
    labels = ["beta", "Alpha", "gamma", "beta", "Alpha", "gamma"]
    prepared = prepare(_csv([(f"text {i}", label) for i, label in enumerate(labels)]))
    assert prepared.train.label_names == ["Alpha", "beta", "gamma"]


def test_multi_label_cells_give_multi_label_and_a_label_matrix():
    cells = ["sports;news", "news", "tech; sports ;", "tech", "news;tech;news", "sports"]
    raw = _csv([(f"text {i}", f'"{cell}"') for i, cell in enumerate(cells)])
    prepared = prepare(raw, validation_fraction=0.5, seed=1)
    assert prepared.report.ok
    assert prepared.train.problem_type == "multi_label"
    everything = LabelledData(
        prepared.train.texts + prepared.validation.texts,
        prepared.train.labels + prepared.validation.labels,
        prepared.train.label_names,
        "multi_label",
    )
    by_text = dict(zip(everything.texts, everything.labels, strict=True))
    assert by_text["text 0"] == ("news", "sports")
    assert by_text["text 2"] == ("sports", "tech")
    assert by_text["text 4"] == ("news", "tech")
    assert everything.label_names == ["news", "sports", "tech"]
    order = [everything.texts.index(f"text {i}") for i in range(6)]
    matrix = everything.label_matrix()[order]
    assert matrix.tolist() == [
        [1, 1, 0],
        [1, 0, 0],
        [0, 1, 1],
        [0, 0, 1],
        [1, 0, 1],
        [0, 1, 0],
    ]


def test_json_label_lists_are_multi_label():
    lines = [
        {"text": f"t{i}", "labels": labels}
        for i, labels in enumerate([["a", "b"], ["a"], ["b"], ["c", "a"], ["c"], ["b", "c"]])
    ]
    raw = "\n".join(json.dumps(line) for line in lines).encode()
    prepared = prepare(raw, name="rows.jsonl")
    assert prepared.report.ok and prepared.train.problem_type == "multi_label"
    assert prepared.train.label_names == ["a", "b", "c"]


def test_two_classes_stay_single_label_unless_binary_is_asked():
    assert prepare(_balanced()).train.problem_type == "single_label"
    binary = prepare(_balanced(), problem_type="binary")
    assert binary.report.ok and binary.train.problem_type == "binary"
    assert binary.validation.problem_type == "binary"


def test_binary_needs_exactly_two_classes():
    prepared = prepare(_balanced(labels=("a", "b", "c")), problem_type="binary")
    finding = _only(prepared, "problem_type")
    assert (finding.severity, finding.count) == ("error", 3)
    assert prepared.train is None


def test_single_label_with_several_labels_per_row_is_an_error():
    raw = _csv([("one", "a;b"), ("two", "a"), ("three", "b"), ("four", "a;b"), ("five", "b")])
    prepared = prepare(raw, problem_type="single_label")
    finding = _only(prepared, "problem_type")
    assert (finding.severity, finding.count) == ("error", 2)
    assert "multi_label" in finding.message


def test_unknown_problem_type_is_an_error():
    assert (
        _only(prepare(_balanced(), problem_type="regression"), "problem_type").severity == "error"
    )


def test_one_class():
    prepared = prepare(_csv([(f"text {i}", "spam") for i in range(6)]))
    finding = _only(prepared, "one_class")
    assert finding.severity == "error" and "'spam'" in finding.message
    assert prepared.train is None


def test_one_label_in_total_for_multi_label():
    raw = _csv([(f"text {i}", "x") for i in range(6)])
    assert _only(prepare(raw, problem_type="multi_label"), "one_class").severity == "error"


def test_rare_class_is_named():
    rows = [(f"text {i}", "common" if i % 2 else "usual") for i in range(10)] + [("odd", "unique")]
    prepared = prepare(_csv(rows))
    finding = _only(prepared, "rare_class")
    assert (finding.severity, finding.count) == ("warning", 1)
    assert "'unique'" in finding.message


def test_imbalance_is_reported_with_the_ratio():
    prepared = prepare(
        _csv([(f"a {i}", "big") for i in range(12)] + [(f"b {i}", "small") for i in range(4)])
    )
    finding = _only(prepared, "imbalance")
    assert finding.severity == "warning"
    assert "3.0 to 1" in finding.message and "'big'" in finding.message
    assert "class weights" in finding.message
    assert "class_balance" not in prepared.report.codes()


def test_balance_is_reported_when_not_imbalanced():
    prepared = prepare(
        _csv([(f"a {i}", "x") for i in range(8)] + [(f"b {i}", "y") for i in range(4)])
    )
    assert _only(prepared, "class_balance").severity == "info"
    assert "2.0 times" in _only(prepared, "class_balance").message


# Lengths and sizes -------------------------------------------------------------------------------


def test_too_long_counts_texts_over_the_limit():
    rows = [("one two three four five six", "a"), ("one two three four five six seven", "b")]
    rows += [(f"short {i}", "a" if i % 2 else "b") for i in range(8)]
    prepared = prepare(_csv(rows), max_length=7, token_counter=_words_plus_two)
    finding = _only(prepared, "too_long")
    assert (finding.severity, finding.count) == ("warning", 2)
    assert "20%" in finding.message and "lengths" not in prepared.report.codes()


def test_lengths_info_when_everything_fits():
    prepared = prepare(_balanced(), max_length=64, token_counter=_words_plus_two)
    assert _only(prepared, "lengths").severity == "info"
    assert "too_long" not in prepared.report.codes()


def test_no_length_findings_without_a_token_counter():
    assert not {"lengths", "too_long"} & prepare(_balanced()).report.codes()


def test_too_many_rows_keeps_a_seeded_sample():
    first = prepare(_balanced(per_class=20), max_rows=10, seed=3)
    finding = _only(first, "too_many_rows")
    assert (finding.severity, finding.count) == ("warning", 30)
    assert len(first.train) + len(first.validation) == 10
    again = prepare(_balanced(per_class=20), max_rows=10, seed=3)
    assert again.train.texts == first.train.texts


def test_too_few_rows():
    prepared = prepare(_csv([("a", "x"), ("b", "y"), ("c", "x")]))
    finding = _only(prepared, "too_few_rows")
    assert (finding.severity, finding.count) == ("error", 3)
    assert prepared.train is None and prepared.validation is None


def test_a_fraction_that_empties_a_side_is_too_few_rows():
    prepared = prepare(_balanced(), validation_fraction=0.0)
    assert _only(prepared, "too_few_rows").severity == "error"
    assert prepared.train is None


# Splitting ---------------------------------------------------------------------------------------


def test_split_is_stratified():
    raw = _csv([(f"a {i}", "a") for i in range(32)] + [(f"b {i}", "b") for i in range(8)])
    prepared = prepare(raw, validation_fraction=0.25)
    assert Counter(row[0] for row in prepared.validation.labels) == {"a": 8, "b": 2}
    assert Counter(row[0] for row in prepared.train.labels) == {"a": 24, "b": 6}
    assert "not_stratified" not in prepared.report.codes()


def test_split_is_reproducible_per_seed():
    raw = _balanced(per_class=20)
    first, again = prepare(raw, seed=7), prepare(raw, seed=7)
    other = prepare(raw, seed=8)
    assert first.validation.texts == again.validation.texts
    assert first.train.texts == again.train.texts
    assert set(first.validation.texts) != set(other.validation.texts)


def test_split_falls_back_when_a_class_has_one_row():
    rows = [(f"text {i}", "a" if i % 2 else "b") for i in range(10)] + [("lonely", "c")]
    prepared = prepare(_csv(rows))
    finding = _only(prepared, "not_stratified")
    assert (finding.severity, finding.count) == ("warning", 1)
    assert prepared.report.ok and len(prepared.train) + len(prepared.validation) == 11


def test_split_keeps_a_row_on_each_side():
    data = LabelledData(
        [f"t{i}" for i in range(5)], [("a",), ("b",)] * 2 + [("a",)], ["a", "b"], "single_label"
    )
    train, held, _ = split(data, validation_fraction=0.01)
    assert (len(train), len(held)) == (4, 1)
    with pytest.raises(DataError):
        split(data.subset([0]))


def test_split_stratifies_multi_label_by_the_rarest_label():
    labels = [("common",)] * 16 + [("common", "rare")] * 4
    data = LabelledData([f"t{i}" for i in range(20)], labels, ["common", "rare"], "multi_label")
    train, held, report = split(data, validation_fraction=0.25, seed=0)
    assert report.findings == []
    assert sum("rare" in row for row in held.labels) == 1
    assert sum("rare" in row for row in train.labels) == 3


# A separate validation file ----------------------------------------------------------------------


def test_validation_file_from_a_path(tmp_path):
    path = tmp_path / "dev.csv"
    path.write_bytes(_csv([("held out one", "neg"), ("held out two", "pos")]))
    prepared = prepare(_balanced(), validation_source=path)
    assert prepared.report.ok
    assert len(prepared.train) == 20
    assert prepared.validation.texts == ["held out one", "held out two"]
    assert "not_stratified" not in prepared.report.codes()


def test_unseen_validation_labels():
    validation = _csv([("v1", "neg"), ("v2", "neutral"), ("v3", "neutral")])
    prepared = prepare(_balanced(), validation_source=validation, validation_name="dev.csv")
    finding = _only(prepared, "unseen_validation_labels")
    assert (finding.severity, finding.count) == ("warning", 1)
    assert "'neutral'" in finding.message and "never sees" in finding.message
    assert prepared.train.label_names == ["neg", "neutral", "pos"]
    assert prepared.validation.label_names == prepared.train.label_names


def test_validation_file_problems_are_reported():
    empty = prepare(_balanced(), validation_source=b"")
    assert "Validation file" in _only(empty, "empty_file").message
    other_columns = prepare(_balanced(), validation_source=b"sentence,label\nhi,pos\n")
    assert "Validation file" in _only(other_columns, "missing_column").message
    assert other_columns.train is None


# Validating a frame that is already in memory ----------------------------------------------------


def test_validate_accepts_a_frame():
    frame = pd.DataFrame({"body": [f"message {i}" for i in range(10)], "tag": ["x", "y"] * 5})
    prepared = validate(frame, seed=0)
    assert prepared.report.ok
    assert (prepared.text_column, prepared.label_column) == ("body", "tag")
    assert isinstance(prepared.train.label_ids(), np.ndarray)


def test_same_column_for_text_and_label_is_an_error():
    prepared = prepare(_balanced(), text_column="text", label_column="TEXT")
    assert _only(prepared, "same_column").severity == "error"


def test_texts_shared_with_the_validation_file_are_reported():
    validation = _csv([("neg review number 0", "neg"), ("fresh text", "pos")])
    prepared = prepare(_balanced(), validation_source=validation)
    finding = _only(prepared, "validation_overlap")
    assert (finding.severity, finding.count) == ("warning", 1)


def test_encoding_fallback_reaches_the_prepared_report():
    rows = [(f"caf\xe9 {i}", "a" if i % 2 else "b") for i in range(6)]
    raw = "\n".join(["text,label"] + [",".join(row) for row in rows]).encode("cp1252")
    prepared = prepare(raw)
    assert _only(prepared, "encoding_fallback").severity == "warning"
    assert "café 0" in prepared.train.texts + prepared.validation.texts


def test_json_lists_follow_the_chosen_label_delimiter():
    lines = [{"text": f"t{i}", "labels": ["a", "b"] if i % 2 else ["a;b"]} for i in range(6)]
    raw = "\n".join(json.dumps(line) for line in lines).encode()
    prepared = prepare(raw, name="rows.jsonl", label_delimiter="|")
    assert prepared.train.label_names == ["a", "a;b", "b"]


# Bugs found by the fuzz tests (tests/unit/test_data_fuzz.py) -------------------------------------


def test_lone_carriage_return_in_a_field_does_not_break_sniffing():
    # csv.reader raised "new-line character seen in unquoted field" out of the delimiter sniffer.
    with pytest.raises(DataError, match="column names but no rows"):
        read_table(b"text,text\n\r,\n")
    frame, _ = read_table(b"text,label\na\rb,x\nc,y\n")
    assert frame["label"].tolist() == ["", "x", "y"]
    with pytest.raises(DataError, match="Line 2 has 2 fields"):
        read_table(b"a\rb,x\nc\rd,y\n")


@pytest.mark.parametrize("raw", [b"{}", b"[{}, {}]", b"{}\n{}\n"])
def test_json_objects_without_keys_are_empty(raw):
    # A frame with rows but no columns used to crash the column listing with an IndexError.
    with pytest.raises(DataError, match="no columns"):
        read_table(raw)
    finding = _only(prepare(raw), "empty_file")
    assert finding.message.startswith("The file holds no columns")


def test_json_lone_surrogate_escapes_become_replacement_characters():
    # json.loads accepts "\ud800"; pandas (pyarrow strings) then raised UnicodeEncodeError.
    rows = [{"text": f"t{i} \\ud800", "label": "ab"[i % 2], "\\udc00": 1} for i in range(8)]
    raw = "\n".join(json.dumps(r).replace("\\\\", "\\") for r in rows).encode()
    frame, _ = read_table(raw)
    assert frame["text"][0] == "t0 \ufffd" and "\ufffd" in frame.columns
    assert prepare(raw).report.ok


def test_error_sentences_start_with_a_capital():
    # The problem_type error began with its count ("1 row has several labels ...").
    prepared = prepare(_balanced(per_class=3, labels=("a;b", "c")), problem_type="single_label")
    assert _only(prepared, "problem_type").message.startswith("The label column has several")
    with pytest.raises(DataError, match="^A table of 1 row cannot be split"):
        split(LabelledData(["t"], [("a",)], ["a"], "single_label"))


def test_a_second_utf8_bom_is_stripped_too():
    # The JSON parser's "Unexpected UTF-8 BOM (decode using utf-8-sig)" reached the user.
    frame, _ = read_table(b'\xef\xbb\xbf\xef\xbb\xbf{"text": "a", "label": "x"}\n')
    assert list(frame.columns) == ["text", "label"]
    frame, _ = read_table(b"\xef\xbb\xbf\xef\xbb\xbftext,label\na,x\n")
    assert list(frame.columns) == ["text", "label"]


def test_nul_bytes_are_refused_with_a_hint_about_utf16():
    with pytest.raises(DataError, match="UTF-16 text without a byte-order mark"):
        read_table("text,label\nhi,x\n".encode("utf-16-le"))


def test_max_rows_of_zero_keeps_one_row_and_says_so():
    prepared = prepare(_balanced(), max_rows=0)
    assert "a random sample of 1 " in _only(prepared, "too_many_rows").message
    assert _only(prepared, "too_many_rows").count == 19


# Hard limits -------------------------------------------------------------------------------------


def test_upload_over_the_byte_limit_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module.read, "MAX_UPLOAD_BYTES", 1024 * 1024)
    raw = _balanced() + b"x" * (1024 * 1024)
    with pytest.raises(DataError, match=r"The file is 1 MB, more than the limit of 1 MB"):
        read_table(raw + b"y" * 100)
    path = tmp_path / "big.csv"
    path.write_bytes(raw * 2)
    with pytest.raises(DataError, match=r"The file is 2 MB, more than the limit of 1 MB"):
        read_table(path)
    assert "more than the limit" in _only(prepare(path), "unreadable").message


def test_default_byte_limit_matches_the_app_upload_limit():
    config = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"
    megabytes = tomllib.loads(config.read_text(encoding="utf-8"))["server"]["maxUploadSize"]
    assert megabytes * 1024 * 1024 == data_module.MAX_UPLOAD_BYTES


def test_row_limit_applies_without_max_rows(monkeypatch):
    monkeypatch.setattr(data_module.clean, "MAX_ROWS", 12)
    for max_rows in (None, 100):
        prepared = prepare(_balanced(per_class=20), max_rows=max_rows)
        finding = _only(prepared, "too_many_rows")
        assert (finding.severity, finding.count) == ("warning", 28)
        assert "limit of 12" in finding.message
        assert len(prepared.train) + len(prepared.validation) == 12
        assert Counter(prepared.train.labels + prepared.validation.labels) == {
            ("neg",): 6,
            ("pos",): 6,
        }
    assert (
        "limit of 5" in _only(prepare(_balanced(per_class=20), max_rows=5), "too_many_rows").message
    )


def test_texts_over_the_character_limit_are_cut_and_counted():
    huge = "word " * 250_000  # a 1.25 MB cell
    rows = [(f"review {i}", "ab"[i % 2]) for i in range(10)]
    rows[3] = (huge.strip(), "b")
    rows[6] = ('"' + huge.strip() + '"', "a")
    prepared = prepare(_csv(rows), token_counter=_words_plus_two)
    finding = _only(prepared, "text_cut")
    assert (finding.severity, finding.count) == ("warning", 2)
    assert "10,000 characters" in finding.message and "rows 4 and 7" in finding.message
    texts = prepared.train.texts + prepared.validation.texts
    assert max(map(len, texts)) == data_module.MAX_TEXT_CHARS
