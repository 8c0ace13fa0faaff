"""The Streamlit entry and home page render without exceptions."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from bertviz_lib import runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_home_lists_runs_and_the_device(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.store, "DEFAULT_ROOT", tmp_path)
    writer = runs.RunWriter(runs.create_run(tmp_path, "listed"))
    writer.set_status("failed", error="boom")
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "BERTViz Studio"
    device = app.markdown[1].value
    assert "**Device:** cpu" in device or "**Device:** cuda" in device or "mps" in device
    table = app.dataframe[0].value
    assert list(table["state"]) == ["failed"]
    assert table["run"][0].endswith("listed")


def test_home_without_runs_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.store, "DEFAULT_ROOT", tmp_path / "none")
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert "No runs yet" in app.info[0].value
