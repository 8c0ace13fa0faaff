"""Which column holds the text and which the label, when the user has not said: known names first,
then the column that reads like prose and the one that reads like a small set of classes.
"""

from __future__ import annotations

import re

import pandas as pd

from bertviz_lib.config import LABEL_DELIMITER

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


_MAX_GUESSED_CLASSES = 1000


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


INTEGER = re.compile(r"-?\d+")


def guess_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """Pick the columns a person most likely means, so that most uploads need no choice at all.

    Names decide first ("text", "review_text", "label", ...); otherwise the text is the column of
    longest, mostly distinct strings and the label a column that repeats a few values.
    """
    return guess_missing(frame, None, None)


def guess_missing(
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
            if texty and ("id" in words or _all_numeric(column_values(frame[column]))):
                continue
            ranked.append((1, min(hits), position, column))
    return min(ranked)[-1] if ranked else None


def _texty_column(frame: pd.DataFrame, exclude: str | None) -> str | None:
    ranked = []
    for column in frame.columns:
        values = column_values(frame[column])
        if column == exclude or not values or _all_numeric(values):
            continue
        if len(set(values)) >= 0.5 * len(values):
            ranked.append((sum(map(len, values)) / len(values), column))
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else None


def _labelly_column(frame: pd.DataFrame, exclude: str | None) -> str | None:
    """Few distinct values for many rows; two or more beat a constant column, fewer beat more."""
    ranked = []
    for position, column in enumerate(frame.columns):
        values = column_values(frame[column])
        if column == exclude or not values:
            continue
        distinct = len(_distinct_labels(values))
        if distinct <= min(0.5 * len(values), _MAX_GUESSED_CLASSES):
            ranked.append((distinct < 2, distinct, -position, column))
    return min(ranked)[-1] if ranked else None


def column_values(series: pd.Series) -> list[str]:
    stripped = series.dropna().astype(str).str.strip()
    return stripped[stripped != ""].tolist()


def _distinct_labels(values: list[str]) -> set[str]:
    """Count the labels of a multi-label column, not its many combinations."""
    pieces = [split_cell(value, LABEL_DELIMITER) for value in values]
    if any(len(row) > 1 for row in pieces):
        return {piece for row in pieces for piece in row}
    return set(values)


def _all_numeric(values: list[str]) -> bool:
    return all(_NUMBER.fullmatch(value) for value in values)


def split_cell(cell: str, delimiter: str) -> list[str]:
    pieces = cell.split(delimiter) if delimiter and delimiter in cell else [cell]
    return [piece.strip() for piece in pieces if piece.strip()]
