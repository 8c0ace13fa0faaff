"""HTML building: hostile text comes out inert, colours diverge around zero."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from bertviz_lib.report import render

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    'a" onmouseover="alert(3)',
    "javascript:alert(4)",
    "Tom & Jerry's",
]


class Elements(HTMLParser):
    """What a browser would build: the tags, their attributes and the visible text."""

    def __init__(self, page: str):
        super().__init__()
        self.tags, self.attributes, self.text = [], [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_tokens_come_out_as_text_never_as_markup(text):
    parsed = Elements(render.token_heatmap([text, "fine"], [0.5, -0.2], title=text))
    assert set(parsed.tags) <= {"div", "span", "strong"}
    assert all(not name.startswith("on") for name, _ in parsed.attributes)
    assert {name for name, _ in parsed.attributes} <= {"class", "title", "style"}
    assert parsed.text.count(text) == 2  # the title and the token, shown literally
    hover = [value for name, value in parsed.attributes if name == "title"]
    assert hover[0] == f"{text}: +0.5000"


def test_standalone_page_escapes_its_title():
    page = render.standalone_page("<script>x</script>", "<div>ok</div>")
    assert "<title>&lt;script&gt;x&lt;/script&gt;</title>" in page


def test_colours_diverge_from_white_at_zero():
    assert render.attribution_colour(0.0, 1.0) == "rgb(255,255,255)"
    assert render.attribution_colour(1.0, 1.0) == "rgb(33,102,172)"
    assert render.attribution_colour(-1.0, 1.0) == "rgb(178,24,43)"
    assert render.attribution_colour(5.0, 1.0) == render.attribution_colour(1.0, 1.0)


def test_values_show_on_hover_and_lengths_must_match():
    page = render.token_heatmap(["good"], [0.25])
    assert 'title="good: +0.2500"' in page
    with pytest.raises(ValueError):
        render.token_heatmap(["a", "b"], [1.0])


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_explanation_report_is_inert_everywhere(text):
    page = render.explanation_report(
        heading=f"Explanation of {text}",
        text=text,
        facts=[("Target", text), (text, "0.9")],
        heatmaps=[(text, [text, "ok"], [0.3, -0.1], f"note {text}")],
        scores=[{"method": text, text: 0.25, "verdict": None}],
    )
    parsed = Elements(page)
    allowed = {"html", "head", "meta", "title", "body", "h1", "h2", "p", "blockquote", "ul", "li"}
    allowed |= {"strong", "div", "span", "table", "thead", "tbody", "tr", "th", "td"}
    assert set(parsed.tags) <= allowed
    assert all(not name.startswith("on") for name, _ in parsed.attributes)
    assert all("javascript:" not in (value or "") for _, value in parsed.attributes if _ != "title")
    visible = "".join(parsed.text)
    assert visible.count(text) >= 6 and "0.2500" in visible


def test_markdown_literal_backslashes_every_markdown_character():
    text = "[click](javascript:alert(1)) **bold** # <b>"
    assert render.markdown_literal(text) == (
        r"\[click\]\(javascript\:alert\(1\)\) \*\*bold\*\* \# \<b\>"
    )
    assert render.markdown_literal("plain words") == "plain words"
