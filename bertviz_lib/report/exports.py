"""Files a user downloads: CSV that spreadsheets cannot execute, JSON, and zipped model folders."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """A leading quote makes a spreadsheet show a formula-like cell instead of running it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    cleaned = frame.copy()
    for column in cleaned.columns:
        if cleaned[column].dtype == object or pd.api.types.is_string_dtype(cleaned[column]):
            cleaned[column] = cleaned[column].map(neutralise_formula)
    cleaned.columns = [neutralise_formula(str(c)) for c in cleaned.columns]
    return cleaned.to_csv(index=False).encode("utf-8")


def metrics_json(metrics: dict) -> bytes:
    return json.dumps(metrics, indent=2, allow_nan=False).encode("utf-8")


def zip_folder(folder: Path) -> bytes:
    """The folder's files in a zip whose top-level folder is the folder's own name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, Path(folder.name) / path.relative_to(folder))
    return buffer.getvalue()
