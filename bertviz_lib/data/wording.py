"""How findings are phrased: counts with their nouns, quoted examples, shares. Every sentence a
user reads about their file goes through these helpers, so the wording stays consistent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import pandas as pd


def in_file(role: str, message: str) -> str:
    return f"{role}: {message}" if role else message


def column_list(frame: pd.DataFrame) -> str:
    return quoted([str(c) for c in frame.columns], limit=10)


def quoted(items: Sequence[str], limit: int = 5) -> str:
    return listing([f"'{excerpt(item)}'" for item in items[:limit]], len(items))


def listing(shown: list[str], total: int) -> str:
    """'a', 'b' and 'c' -- or 'a', 'b' and 4 more when only some are shown."""
    if not shown:
        return "none"
    if total > len(shown):
        return f"{', '.join(shown)} and {total - len(shown)} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def excerpt(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def has_or_have(n: int) -> str:
    return "has" if n == 1 else "have"


def plural_s(items: Sequence[object]) -> str:
    return "" if len(items) == 1 else "s"


def percent(part: int, whole: int) -> str:
    share = part / whole
    return "under 1%" if 0 < share < 0.01 else f"{share:.0%}"


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in text)


def visible(text: str) -> str:
    """Control characters written as escapes (a NUL as \\x00): a message can show where they are."""
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if unicodedata.category(character) == "Cc"
        else character
        for character in text
    )
