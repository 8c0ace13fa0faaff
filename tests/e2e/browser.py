"""Driving the real app: `streamlit run app.py` on a free port, Debian's Chromium through
Playwright, and the steps the browser tests share (go to a page, wait for the script, screenshot,
train the tiny model). In CI a missing browser fails a test; elsewhere it is skipped with the
reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import ROOT, STORED_MODEL, free_port

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
