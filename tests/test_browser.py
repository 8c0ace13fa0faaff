"""The real app in a real browser: upload, train a tiny model, read its metrics, predict.

Drives `streamlit run app.py` with Playwright in Debian's Chromium and saves a full-page
screenshot of every page into artifacts/screenshots/. In CI a missing browser fails the test;
elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import STORED_MODEL, store_model

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("BERTVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SAMPLE = ROOT / "bertviz_lib" / "data" / "samples" / "sentiment.csv"
REAL_MODEL = os.environ.get("BERTVIZ_BROWSER_REAL_MODEL") == "1"


def browser_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_browser(what: str) -> None:
    """Skip without Chromium or Playwright, except in CI, where that is a failure."""
    reason = browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{what} cannot run in CI: {reason}.")
        pytest.skip(reason)


@contextmanager
def streamlit_server(models: Path, log_path: Path, *options: str) -> Iterator[str]:
    """`streamlit run app.py` on a free port with its run store in `models`; yields its URL."""
    port = free_port()
    env = {**os.environ, "BERTVIZ_MODELS_DIR": str(models), "HF_HUB_OFFLINE": "1"}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false", *options],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            process.kill()
            pytest.fail("streamlit did not start within 60 s")
        try:
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    require_browser("The browser test")
    models = tmp_path_factory.mktemp("browser-models")
    store_model(tiny_model_dir, models)  # typed on Train as STORED_MODEL
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    with streamlit_server(models, log) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        dialogs = []
        tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        tab.goto(server)
        tab.get_by_role("heading", name="BERTViz Studio").wait_for(timeout=60_000)
        yield tab
        assert dialogs == [], f"a dialog opened: {dialogs}"
        browser.close()


def go_to(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    wait_until_idle(page)


def wait_until_idle(page, timeout: float = 60) -> None:
    """Streamlit shows a running indicator while the script runs; wait for it to go."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout * 1000)


def shoot(page, name: str) -> None:
    """Streamlit scrolls inside its main pane, so grow the window to the pane's height first."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 12000)})
    page.wait_for_timeout(800)  # plotly redraws on resize
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def choose(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_until_idle(page)


def use_tiny_model(page, epochs: int) -> None:
    """On Train: the tiny test model from its folder in the run store, with settings it learns
    quickly under."""
    choose(page, "Model", "A local folder…")
    page.get_by_label("Model folder", exact=True).fill(STORED_MODEL)
    page.get_by_label("Model folder", exact=True).press("Enter")
    wait_until_idle(page)
    page.get_by_text("Settings", exact=True).click()
    for label, value in (("learning rate", "3e-3"), ("dropout", "0"), ("epochs", str(epochs))):
        page.get_by_label(label, exact=True).fill(value)
        page.get_by_label(label, exact=True).press("Enter")
        wait_until_idle(page)


def start_and_finish_training(page) -> None:
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("completed", exact=False).first.wait_for(timeout=600_000)
    wait_until_idle(page)


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
    revealed = page.locator('[data-testid="stAlertContentSuccess"]')
    revealed.first.wait_for(timeout=60_000)  # on a loaded machine the rerun can take a while
    wait_until_idle(page)
    assert revealed.count() == 1
    shoot(page, "11-quiz-flashcard")
    page.get_by_text("Test", exact=True).click()
    wait_until_idle(page)
    form = page.locator('[data-testid="stForm"]')
    form.locator('[role="radiogroup"]').first.locator("label").first.click()
    page.get_by_role("button", name="Mark my test").click()
    page.get_by_text("Score", exact=True).wait_for(timeout=60_000)
    wait_until_idle(page)
    assert page.get_by_text("of 10 right").count() == 1
    shoot(page, "12-quiz-test")
