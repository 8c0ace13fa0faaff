"""The Metrics page's Data map, Baseline and Calibration tabs, and the calibrated probabilities
that Predict and Explain show by default, driven through AppTest."""

from __future__ import annotations

import json

import pytest

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.config import DataConfig
from bertviz_lib.insight import baseline, calibration, cartography
from bertviz_lib.model.predict import Predictor
from bertviz_lib.runs.training_run import run_training
from tests.helpers import open_page, prepared, tiny_config

TEXT = "the film was superb"


@pytest.fixture
def trained_run(models, tiny_model_dir) -> runs.Run:
    data = prepared()
    # three epochs: the tiny model still makes mistakes, so a temperature is fitted (a model right
    # on every validation row keeps T = 1, and calibrated and raw would look the same)
    config = tiny_config(tiny_model_dir, epochs=3)
    return run_training(data, DataConfig(), config, runs.create_run(models))


def frames(app) -> list:
    return [element.value for element in app.dataframe]


def test_the_metrics_page_maps_the_data_and_lists_the_suspects(trained_run):
    app = open_page("app_pages/metrics.py")
    assert not app.exception
    assert "Suspected label errors" in [s.value for s in app.subheader]
    key = trained_run.run_id
    top = app.number_input(key=f"suspects-top-{key}")
    assert top.value == cartography.DEFAULT_TOP
    top.set_value(3).run()
    listed = next(f for f in frames(app) if cartography.PREFERRED in f.columns)
    expected = cartography.suspects(cartography.read(trained_run.path), 3)
    assert listed[cartography.TEXT].tolist() == expected[cartography.TEXT].tolist()
    assert any("hard to learn" in c.value for c in app.caption)
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    titles = [spec["layout"]["title"]["text"] for spec in specs]
    assert "Data map of the training rows" in titles

    app.selectbox(key=f"suspect-pick-{key}").set_value(1).run()
    app.button(key=f"suspect-explain-{key}").click().run()
    assert not app.exception
    assert app.session_state["explain.typed"] == expected[cartography.TEXT].tolist()[1]


def test_the_metrics_page_puts_the_baseline_beside_the_model(trained_run):
    app = open_page("app_pages/metrics.py")
    written = baseline.read(trained_run.path)
    side_by_side = next(f for f in frames(app) if "fine-tuned minus baseline" in f.columns)
    accuracy = side_by_side.set_index("metric").loc["accuracy"]
    assert accuracy["fine-tuned"] == pytest.approx(trained_run.metrics["accuracy"])
    assert accuracy["baseline"] == pytest.approx(written["metrics"]["accuracy"])
    shown = [m.value for m in app.markdown]
    assert any(m.startswith("**Only the fine-tuned model gets these right**") for m in shown)
    assert any(m.startswith("**Only the baseline gets these right**") for m in shown)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert "F1 per class" in titles


def test_the_metrics_page_shows_the_calibration_before_and_after(trained_run):
    app = open_page("app_pages/metrics.py")
    report = calibration.read(trained_run.path)
    assert any(m.value.startswith("**Temperature ") for m in app.markdown)
    assert f"**{calibration.verdict(report)}**" in [m.value for m in app.markdown]
    table = next(f for f in frames(app) if "ECE after" in f.columns)
    assert table["ECE before"][0] == pytest.approx(report["before"]["ece"])
    assert table["ECE after"][0] == pytest.approx(report["after"]["ece"])
    assert len(table) == 3  # all rows, then each half
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert any(t.startswith("Before calibration (ECE") for t in titles)
    assert any(t.startswith("After, held out (ECE") for t in titles)
    traces = [t.get("name", "") for c in app.get("plotly_chart")
              for t in json.loads(c.proto.spec)["data"]]  # fmt: skip
    assert any("smoothed" in name for name in traces)  # the loss curve's moving average


def test_a_run_right_on_every_validation_row_says_its_temperature_changes_nothing(trained_run):
    report = calibration.read(trained_run.path)
    calibration.write(
        trained_run.path, {**report, "temperatures": [1.0], "unchanged": calibration.UNCHANGED}
    )
    app = open_page("app_pages/metrics.py")
    assert calibration.UNCHANGED in [info.value for info in app.info]
    said = next(m.value for m in app.markdown if m.value.startswith("**Temperature "))
    assert said.startswith("**Temperature 1.000**")
    assert "leaves the probabilities as they are" in said


def test_a_multi_label_run_lists_a_temperature_per_label(models, tiny_model_dir):
    data = prepared("multi_label")
    config = tiny_config(tiny_model_dir, problem_type="multi_label", epochs=3)
    run_training(data, DataConfig(), config, runs.create_run(models))
    app = open_page("app_pages/metrics.py")
    assert not app.exception
    table = next(f for f in frames(app) if "temperature" in f.columns)
    assert table["label"].tolist() == data.train.label_names


def chart_probabilities(app) -> list[float]:
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    return spec["data"][0]["x"]


def test_predict_shows_calibrated_probabilities_unless_switched_off(trained_run):
    app = open_page("app_pages/predict.py")
    assert app.toggle(key=studio.CALIBRATED).value is True
    app.text_area[0].set_value(TEXT)
    app.button[0].click().run()
    calibrated = Predictor.from_run(trained_run).predict_proba([TEXT])[0]
    as_trained = Predictor.from_run(trained_run, calibrated=False).predict_proba([TEXT])[0]
    assert chart_probabilities(app) == pytest.approx(calibrated.tolist(), abs=1e-5)
    app.toggle(key=studio.CALIBRATED).set_value(False).run()
    app.button[0].click().run()
    assert not app.exception
    assert chart_probabilities(app) == pytest.approx(as_trained.tolist(), abs=1e-5)
    assert calibrated.tolist() != pytest.approx(as_trained.tolist(), abs=1e-3)


def test_explain_attributes_the_calibrated_probability_unless_switched_off(trained_run):
    texts = trained_run.predictions()["text"].tolist()[:6]
    models = [Predictor.from_run(trained_run, calibrated=c) for c in (True, False)]
    written = [  # each text's predicted probability as the caption writes it
        [f"{row.max():.1%}" for row in model.predict_proba(texts)] for model in models
    ]
    text, calibrated, raw = next(t for t in zip(texts, *written, strict=True) if t[1] != t[2])
    app = open_page("app_pages/explain.py")
    app.text_area(key="explain.typed").set_value(text).run()
    assert not app.exception

    def attributed() -> str:
        return next(c.value for c in app.caption if c.value.startswith("What is attributed"))

    assert f"({calibrated} for this text)" in attributed()
    app.toggle(key=studio.CALIBRATED).set_value(False).run()
    assert not app.exception
    assert f"({raw} for this text)" in attributed()


def test_the_model_zip_can_leave_the_temperature_out(trained_run):
    app = open_page("app_pages/metrics.py")
    key = trained_run.run_id
    app.toggle(key=f"zip-toggle-{key}").set_value(True).run()
    assert app.checkbox(key=f"zip-calibrated-{key}").value is True
    app.checkbox(key=f"zip-calibrated-{key}").uncheck().run()
    assert not app.exception
    assert len(app.get("download_button")) == 4  # JSON, CSV, suspects, the zip
