"""A link to one page opened first, on a server nobody has visited since it started.

Streamlit lists the files of a folder named `pages/` beside the entry file as pages of their own
until some session has run `st.navigation`; the first visitor after a start who opened a bookmark
such as /metrics got that page alone, outside the app's frame and menu, with the helper modules
listed as pages. The app's pages live in `app_pages/` for that reason.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_FLAGS, require_browser, streamlit_server

pytestmark = pytest.mark.e2e  # a real browser on a server of its own

MENU = ["Home", "Data", "Train", "Metrics", "Predict", "Explain", "Learn", "Quiz"]


def test_a_bookmark_opened_first_after_a_start_gets_the_app_s_own_menu(tmp_path):
    from playwright.sync_api import sync_playwright

    require_browser("The deep-link test")
    server = streamlit_server(tmp_path / "models", tmp_path / "streamlit.log")
    with server as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/metrics")  # the first request this server answers
        page.get_by_role("heading", name="Metrics").first.wait_for(timeout=60_000)
        page.get_by_text("No trained run yet.").wait_for(timeout=60_000)
        menu = page.locator('[data-testid="stSidebarNav"]')
        links = [link.inner_text().strip() for link in menu.locator("a").all()]
        browser.close()
    assert [link.splitlines()[-1].strip() for link in links] == MENU, links
