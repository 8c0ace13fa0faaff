"""A hostile data set through Data, Train, Metrics, Predict and Explain in the real browser.

Texts and label names carry script tags, an image with an onerror handler, a javascript: URL,
quotes and ampersands; texts, a label, a column name and the file's name carry markdown too:
images and links to a foreign site, a bare URL, a heading, an HTML comment that would hide what
follows. No dialog may open, no element may be injected, no image or link may point to a foreign
site, and the strings must show as the literal text they are. Screenshots go to
artifacts/screenshots/hostile-*.png.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

import numpy as np
import pytest

from tests.e2e.browser import (
    go_to,
    shoot,
    start_and_finish_training,
    use_tiny_model,
    wait_until_idle,
)
from tests.helpers import BAD, GOOD, MEDIA, TRAVEL

pytestmark = pytest.mark.e2e  # a real browser or the real training process

GOOD_LABEL = "<b>good</b>"
BAD_LABEL = 'bad&"ugly"` ![p](https://example.org/p.png) [Reset password](https://example.org)'
FILE_NAME = "hostile ![f](https://example.org/f.png) [x](https://example.org/x).csv"
TEXT_COLUMN = "text ![c](https://example.org/c.png)"  # named twice: the data report names it
# Repeated, so the data report quotes them: an image and a link; a comment, a heading, a bare URL.
REPEATED = "![t](https://example.org/t.png) [R](https://example.org)"
CONFLICTING = "<!-- hidden --> # Heading https://example.org/bare"
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "javascript:alert(3)",
    "\"double\" & 'single' quotes",
    '<a href="javascript:alert(4)">click</a>',
]


def hostile_rows() -> list[tuple[str, str]]:
    """100 rows: the markdown payloads, repeated and with two labels, then 96 rows whose adjective
    decides the label, with the hostile snippets in both classes."""
    rng = np.random.default_rng(0)
    rows = [(REPEATED, GOOD_LABEL), (REPEATED, GOOD_LABEL)]
    rows += [(CONFLICTING, GOOD_LABEL), (CONFLICTING, BAD_LABEL)]
    for i in range(96):
        positive = i % 2 == 0
        word = rng.choice(GOOD if positive else BAD)
        snippet = HOSTILE[(i // 2) % len(HOSTILE)]
        text = f"{snippet} the {rng.choice(MEDIA + TRAVEL)} was {word}"
        rows.append((text, GOOD_LABEL if positive else BAD_LABEL))
    return rows


def hostile_csv() -> bytes:
    """The rows, with the text column's name given twice (the second copy holds nothing)."""
    handle = io.StringIO()
    writer = csv.writer(handle)
    writer.writerow([TEXT_COLUMN, TEXT_COLUMN, "label"])
    writer.writerows((text, "", label) for text, label in hostile_rows())
    return handle.getvalue().encode()


def assert_inert(page) -> None:
    """Nothing of the data became markup: no image, script, bold tag or javascript: link."""
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("[onerror]").count() == 0
    scripts = "() => [...document.scripts].filter(s => s.textContent.includes('alert(')).length"
    assert page.evaluate(scripts) == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("b", has_text="good").count() == 0
    assert foreign_links(page) == []
    assert page.locator("h1, h2, h3, h4, h5, h6", has_text="Heading").count() == 0


def foreign_links(page) -> list[str]:  # noqa: F811
    """Every image source and link target that leaves the studio's own address."""
    return page.evaluate(
        """() => [...document.querySelectorAll('img[src], a[href], [srcset]')]
            .map(e => e.currentSrc || e.src || e.href || e.getAttribute('srcset'))
            .filter(u => u && !u.startsWith(location.origin) && !u.startsWith('data:')
                         && !u.startsWith('blob:'))"""
    )


def body_text(page) -> str:
    """What the page shows, less the invisible word joiners that render.markdown_literal puts
    inside web and mail addresses (they keep markdown from turning them into links)."""
    return visible_text(page.locator('[data-testid="stMain"]'))


def visible_text(locator) -> str:
    return locator.inner_text().replace("\u2060", "")


def assert_chart_labels_literal(page) -> None:
    """Plotly draws its own small markup (<b>, <i>, <br>, <a href=http…>) in axis labels; the
    charts escape label names, so <b>good</b> must show as those very characters."""
    texts = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot svg text')].map(t => t.textContent)"
    )
    assert any(GOOD_LABEL in text for text in texts), texts


def test_hostile_texts_and_labels_stay_text_on_every_page(
    page,
    tmp_path,
):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))  # the fixture dismisses
    upload = {"name": FILE_NAME, "mimeType": "text/csv", "buffer": hostile_csv()}
    repeats = sum(n - 1 for n in Counter(hostile_rows()).values())

    go_to(page, "Data")
    page.get_by_text("My own file").click()
    wait_until_idle(page)
    page.locator('input[type="file"]').first.set_input_files(upload)
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    wait_until_idle(page)
    assert_inert(page)
    shown = body_text(page)  # the data report names both labels, quoted, as text
    assert f"'{GOOD_LABEL}'" in shown and f"'{BAD_LABEL}'" in shown, shown
    assert f"{repeats} rows repeat an earlier row" in shown and f"'{REPEATED}'" in shown, shown
    assert f"'{CONFLICTING}'" in shown  # the comment hides nothing
    assert f"2 columns named '{TEXT_COLUMN}'" in shown
    shoot(page, "hostile-1-data")

    go_to(page, "Train")
    use_tiny_model(page, epochs=10)
    start_and_finish_training(page)
    assert_inert(page)
    assert f"{FILE_NAME}: 80 training and 20 validation rows, 2 labels" in body_text(page)
    shoot(page, "hostile-2-train")

    go_to(page, "Metrics")
    page.get_by_text("Confusion matrix").first.wait_for(timeout=60_000)
    wait_until_idle(page)
    assert_inert(page)
    shoot(page, "hostile-3-metrics")
    assert_chart_labels_literal(page)
    for tab, shown in (  # the tabs on the data: texts in the map's hover, labels on the axes
        ("Data map", "Suspected label errors"),
        ("Baseline", "Only the baseline gets these right"),
        ("Calibration", "Before calibration"),
    ):
        page.get_by_role("tab", name=tab).click()
        page.get_by_text(shown).first.wait_for(timeout=60_000)
        wait_until_idle(page)
        assert_inert(page)
    assert_chart_labels_literal(page)  # the baseline's F1 bars name the classes
    shoot(page, "hostile-3b-metrics-calibration")

    go_to(page, "Predict")
    text = "<script>alert(1)</script> the film was superb <img src=x onerror=alert(2)>"
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_role("button", name="Predict", exact=True).click()
    page.get_by_text("Predicted:").wait_for(timeout=60_000)
    wait_until_idle(page)
    assert_inert(page)
    answer = visible_text(page.locator("p", has_text="Predicted:").first)
    assert GOOD_LABEL in answer or BAD_LABEL in answer, answer
    assert page.get_by_label("Text", exact=True).input_value() == text
    shoot(page, "hostile-4-predict")

    go_to(page, "Explain")
    text = 'javascript:alert(3) the hotel was awful <script>alert(5)</script> & "quoted"'
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_label("Text", exact=True).press("Control+Enter")
    page.get_by_role("heading", name="LIME").wait_for(timeout=240_000)
    wait_until_idle(page, timeout=240)
    assert_inert(page)
    heatmap = page.locator(".bv-heatmap").first.inner_text()
    assert "script" in heatmap and "alert" in heatmap and "javascript" in heatmap
    shown = body_text(page)  # the class picker and the caption show the label as text
    assert any(
        f"the predicted probability of '{name}'" in shown for name in (GOOD_LABEL, BAD_LABEL)
    )
    shoot(page, "hostile-5-explain")

    assert dialogs == [], f"a dialog opened: {dialogs}"
