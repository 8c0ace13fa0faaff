"""Downloads: formulas neutralised, zips hold the folder's files."""

from __future__ import annotations

import io
import zipfile

import pandas as pd

from bertviz_lib.report import exports


def test_cells_that_start_like_formulas_get_a_leading_quote():
    frame = pd.DataFrame({"text": ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "fine", "a=b"],
                          "p": [0.1] * 7})  # fmt: skip
    text = exports.safe_csv(frame).decode()
    rows = pd.read_csv(io.StringIO(text), keep_default_na=False)["text"].tolist()
    assert rows == ["'=1+1", "'+cmd", "'-2", "'@SUM(A1)", "'\tx", "fine", "a=b"]
    assert "0.1" in text  # numbers stay numbers


def test_zip_holds_every_file_under_the_folder_name(tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"123")
    names = zipfile.ZipFile(io.BytesIO(exports.zip_folder(folder))).namelist()
    assert sorted(names) == ["model/config.json", "model/sub/weights.bin"]
