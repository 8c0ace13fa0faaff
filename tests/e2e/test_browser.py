"""The real app in a real browser: upload, train a tiny model, read its metrics, predict, quiz.

Drives `streamlit run app.py` with Playwright in Debian's Chromium and saves a full-page
screenshot of every page into artifacts/screenshots/. In CI a missing browser fails the test;
elsewhere it is skipped with the reason.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.browser import (
    REAL_MODEL,
    SAMPLE,
    choose,
    go_to,
    shoot,
    start_and_finish_training,
    use_tiny_model,
    wait_until_idle,
)

pytestmark = pytest.mark.e2e  # a real browser or the real training process


def test_a_new_user_goes_from_upload_to_prediction(page):
    shoot(page, "1-home")

    go_to(page, "Data")
    page.get_by_text("My own file").click()
    wait_until_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(SAMPLE))
    page.get_by_text("Ready:").wait_for(timeout=60_000)
    wait_until_idle(page)
    shoot(page, "2-data")

    go_to(page, "Train")
    if REAL_MODEL:  # BERTVIZ_BROWSER_REAL_MODEL=1: the bundled model, for realistic screenshots
        page.get_by_text("Estimated time").wait_for(timeout=120_000)
    else:
        use_tiny_model(page, epochs=6)
    start_and_finish_training(page)
    shoot(page, "3-train")

    go_to(page, "Metrics")
    page.get_by_text("Confusion matrix").first.wait_for(timeout=60_000)
    shoot(page, "4-metrics")
    for tab, shown, name in (
        ("Data map", "Suspected label errors", "4a-metrics-data-map"),
        ("Baseline", "Only the baseline gets these right", "4b-metrics-baseline"),
        ("Calibration", "After, held out", "4c-metrics-calibration"),
    ):
        page.get_by_role("tab", name=tab).click()
        page.get_by_text(shown).first.wait_for(timeout=60_000)
        wait_until_idle(page)
        shoot(page, name)

    go_to(page, "Predict")
    page.get_by_label("Text", exact=True).fill("A warm, funny and beautifully made film.")
    page.get_by_role("button", name="Predict", exact=True).click()
    page.get_by_text("Predicted:").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the probabilities
    wait_until_idle(page)
    shoot(page, "5-predict")

    go_to(page, "Explain")
    hostile = "A lovely film <img src=x onerror=alert(1)> with a dull ending."
    page.get_by_label("Text", exact=True).fill(hostile)
    page.get_by_label("Text", exact=True).press("Control+Enter")
    page.get_by_role("heading", name="LIME").wait_for(timeout=180_000)
    wait_until_idle(page, timeout=180)
    assert page.locator("img[src='x']").count() == 0  # the tag stayed text
    heatmap = page.locator(".bv-heatmap").first
    assert "onerror" in heatmap.inner_text() and "img" in heatmap.inner_text()
    shoot(page, "6-explain")
    for tab, name in (
        ("Faithfulness", "7-explain-faithfulness"),
        ("Attention", "9-explain-attention"),
    ):
        page.get_by_role("tab", name=tab).click()
        wait_until_idle(page)
        if tab == "Attention":
            page.get_by_text("Spearman rank agreement").wait_for(timeout=60_000)
        shoot(page, name)
    page.get_by_role("tab", name="Layers").click()
    page.get_by_text("Compute layer by layer").click()
    page.get_by_text("Convergence delta per layer").wait_for(timeout=180_000)
    wait_until_idle(page)
    shoot(page, "8-explain-layers")

    go_to(page, "Learn")
    page.get_by_text("Similarity of its output vectors").wait_for(timeout=120_000)
    wait_until_idle(page, timeout=120)
    shoot(page, "10-learn")

    go_to(page, "Quiz")
    page.get_by_text("Recall & Review", exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Reveal the answer").click()
    answer = page.locator('[data-testid="stAlertContentSuccess"]')
    answer.first.wait_for(timeout=60_000)  # a loaded machine may start the rerun late
    wait_until_idle(page)
    assert answer.count() == 1
    shoot(page, "11-quiz-flashcard")
    page.get_by_text("Test", exact=True).click()
    wait_until_idle(page)
    assert_options_are_shuffled(page)
    form = page.locator('[data-testid="stForm"]')
    form.locator('[role="radiogroup"]').first.locator("label").first.click()
    page.get_by_role("button", name="Mark my test").click()
    page.get_by_text("Score", exact=True).wait_for(timeout=60_000)
    wait_until_idle(page)
    assert page.get_by_text("of 10 right").count() == 1
    assert page.get_by_text("Right:", exact=False).count() >= 9  # why each missed answer is right
    shoot(page, "12-quiz-test")

    explain_it_refuses_a_negated_answer(page)


def assert_options_are_shuffled(page) -> None:
    """The test shows each bank question's options in a drawn order, not the bank's."""
    from bertviz_lib.learn.quiz import load_bank

    bank = [q for q in load_bank().choice_questions if q.origin == "bank"]
    shared = {p for p, n in Counter(q.prompt for q in bank).items() if n > 1}
    by_prompt = {q.prompt: q for q in bank if q.prompt not in shared}  # "What does this print?"
    form = page.locator('[data-testid="stForm"]')
    prompts = form.locator('[data-testid="stMarkdownContainer"] strong').all_inner_texts()
    groups = form.locator('[role="radiogroup"]')
    assert groups.count() == 10 and len(prompts) >= 10
    compared = moved = 0
    for index, prompt in enumerate(prompts[:10]):
        question = by_prompt.get(prompt.split(". ", 1)[-1].strip())
        if question is None:  # drawn (new numbers, no file order) or a prompt several share
            continue
        shown = [t.strip() for t in groups.nth(index).locator("label").all_inner_texts()]
        assert sorted(shown) == sorted(question.options)
        compared += 1
        moved += shown != list(question.options)
    assert compared >= 3 and moved >= 1, (compared, moved)


def explain_it_refuses_a_negated_answer(page) -> None:
    """Explain it, on [CLS]: a negated answer scores 0 and names the misconception it matched."""
    from bertviz_lib.learn.quiz import load_bank

    page.get_by_text("Explain it", exact=True).click()
    wait_until_idle(page)
    choose(page, "Prompt", load_bank().get("explain-cls").prompt)
    box = page.get_by_label("Your explanation", exact=True)
    box.fill(
        "[CLS] is placed at the end of the input, after the last word. It does not use "
        "attention, and the classifier never reads its vector."
    )
    box.press("Control+Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Score my answer").click()
    page.get_by_text("Concepts found").wait_for(timeout=120_000)
    wait_until_idle(page, timeout=120)
    assert page.get_by_text("0 of 4 concepts").count() == 1
    assert page.get_by_text("matches the misconception", exact=False).count() >= 1
    assert page.get_by_text("says the opposite", exact=False).count() >= 1
    assert page.get_by_text("A model answer").count() == 1
    shoot(page, "13-quiz-explain-it")
