"""The browser tests' server (the real app on a run store holding the tiny model) and page (one
Chromium tab on it), each once per test module."""

from __future__ import annotations

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_FLAGS, SHOTS, require_browser, streamlit_server
from tests.helpers import store_model


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
