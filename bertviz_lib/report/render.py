"""The only place that builds HTML. Every piece of user text is escaped here, once.

Captum's `visualize_text` pastes tokens into HTML unescaped, so a review containing
`<img src=x onerror=...>` would run in the page; these functions never do that.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Sequence

POSITIVE = (33, 102, 172)  # blue: pushes towards the target class
NEGATIVE = (178, 24, 43)  # red: pushes away from it


def _escape(text: str) -> str:
    return html.escape(str(text), quote=True)


def attribution_colour(value: float, scale: float) -> str:
    """A diverging colour: white at zero, full blue or red at +-scale."""
    strength = 0.0 if scale <= 0 else min(abs(value) / scale, 1.0)
    red, green, blue = POSITIVE if value >= 0 else NEGATIVE
    mix = [round(255 + (channel - 255) * strength) for channel in (red, green, blue)]
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def token_heatmap(tokens: Sequence[str], values: Sequence[float], title: str = "") -> str:
    """Tokens as coloured spans with their value on hover, and a legend underneath."""
    if len(tokens) != len(values):
        raise ValueError(f"{len(tokens)} tokens but {len(values)} attribution values.")
    scale = max((abs(v) for v in values), default=0.0)
    spans = []
    for token, value in zip(tokens, values, strict=True):
        colour = attribution_colour(value, scale)
        text_colour = "#ffffff" if scale and abs(value) / scale > 0.6 else "#111111"
        spans.append(
            f'<span class="bv-token" title="{_escape(token)}: {value:+.4f}" '
            f'style="background:{colour};color:{text_colour};padding:2px 4px;margin:1px;'
            f'border-radius:3px;display:inline-block">{_escape(token)}</span>'
        )
    heading = f'<div class="bv-title"><strong>{_escape(title)}</strong></div>' if title else ""
    return (
        f'<div class="bv-heatmap" style="font-family:sans-serif;line-height:2">{heading}'
        f"{''.join(spans)}{_legend(scale)}</div>"
    )


def _legend(scale: float) -> str:
    stops = ", ".join(attribution_colour(v * scale, scale) for v in (-1, -0.5, 0, 0.5, 1))
    return (
        '<div class="bv-legend" style="font-size:0.8em;margin-top:6px">'
        f"<span>against the class (-{scale:.3g})</span>"
        f'<span style="display:inline-block;width:160px;height:10px;margin:0 8px;'
        f'background:linear-gradient(to right, {stops})"></span>'
        f"<span>for the class (+{scale:.3g})</span></div>"
    )


def standalone_page(title: str, body: str) -> str:
    """A whole HTML document around already-built (escaped) HTML, for downloads."""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_escape(title)}</title></head><body>{body}</body></html>"
    )


def table(rows: Sequence[dict]) -> str:
    """A plain HTML table from dicts sharing their keys; every header and cell escaped."""
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{_escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return (
        '<table class="bv-table" style="border-collapse:collapse;font-size:0.9em" border="1" '
        f'cellpadding="4"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "" if value is None else str(value)


def explanation_report(
    heading: str,
    text: str,
    facts: Sequence[tuple[str, str]],
    heatmaps: Sequence[tuple[str, Sequence[str], Sequence[float], str]],
    scores: Sequence[dict] = (),
) -> str:
    """One explanation as a standalone page: the text, what was explained, a heatmap per method
    (title, words, values, a note such as the convergence check) and the faithfulness scores."""
    listed = "".join(f"<li><strong>{_escape(k)}:</strong> {_escape(v)}</li>" for k, v in facts)
    parts = [
        f"<h1>{_escape(heading)}</h1>",
        f'<blockquote style="white-space:pre-wrap">{_escape(text)}</blockquote>',
        f"<ul>{listed}</ul>",
    ]
    for title, words, values, note in heatmaps:
        parts.append(f"<h2>{_escape(title)}</h2>")
        parts.append(f"<p>{_escape(note)}</p>" if note else "")
        parts.append(token_heatmap(words, values))
    if scores:
        parts.append("<h2>Faithfulness (AOPC)</h2>" + table(scores))
    return standalone_page(heading, "".join(parts))


MARKDOWN_SPECIAL = frozenset(string.punctuation)  # CommonMark lets a backslash escape each of them
WORD_JOINER = "\u2060"  # invisible: splits a web or mail address so markdown links none of it
_LINK_STARTS = re.compile(r"(?<=https)(?=://)|(?<=http)(?=://)|(?<=www)(?=\.)|(?=@)", re.I)


def markdown_literal(text: str) -> str:
    """User text inside st.markdown (and every element that renders markdown: alerts, captions,
    headers, radio options, widget labels), shown as typed: no link, image, heading, emphasis,
    HTML comment, maths, emoji or icon.

    Every ASCII punctuation character is backslashed. That is not enough on its own: Streamlit's
    markdown also turns a bare `https://…`, `www.…` or `name@host` into a link after the escapes
    are read, so an invisible word joiner goes between `https` (or `http`, `www`) and what follows
    it, and before every `@`.
    """
    joined = _LINK_STARTS.sub(WORD_JOINER, str(text))
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in joined)
