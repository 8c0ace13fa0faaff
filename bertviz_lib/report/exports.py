"""Files a user downloads: CSV that spreadsheets cannot execute, JSON, and zipped model folders."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PARTS = re.compile(r"([;,])")  # list separators: a spreadsheet may split a cell on either


def neutralise_formula(value):
    """A leading quote makes a spreadsheet show a formula-like cell instead of running it.

    A spreadsheet whose locale separates fields by ';' (or one told to split on ',') cuts a cell
    such as `great film;=cmd|' /C calc'!A0` in two and runs the second part, so every part
    between those separators that starts like a formula (after spaces) gets its own quote.
    """
    if not isinstance(value, str):
        return value
    parts = _PARTS.split(value)
    return "".join("'" + p if p.lstrip(" ").startswith(FORMULA_STARTS) else p for p in parts)


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names are neutralised. Pages pass their tables through
    it before st.dataframe, whose own "Download as CSV" button writes cells as shown."""
    cleaned = frame.copy()
    for column in cleaned.columns:
        if cleaned[column].dtype == object or pd.api.types.is_string_dtype(cleaned[column]):
            cleaned[column] = cleaned[column].map(neutralise_formula)
    cleaned.columns = [neutralise_formula(str(c)) for c in cleaned.columns]
    return cleaned


def safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV a spreadsheet cannot execute: formula-like parts neutralised and every field quoted, so
    no separator inside a cell (';', ',', a tab) splits it in any locale."""
    return neutralised(frame).to_csv(index=False, quoting=csv.QUOTE_ALL).encode("utf-8")


def metrics_json(metrics: dict) -> bytes:
    return json.dumps(metrics, indent=2, allow_nan=False).encode("utf-8")


def zip_folder(folder: Path) -> bytes:
    """The folder's files in a zip whose top-level folder is the folder's own name. Symbolic links
    are never followed, the folder itself included: a linked model/ could point anywhere."""
    if Path(folder).is_symlink():
        raise ValueError(f"'{folder}' is a symbolic link; only a run's own folder is zipped.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return buffer.getvalue()
