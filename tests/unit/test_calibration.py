"""Temperature scaling (Guo et al., 2017): fitted on validation logits, reported held out, folded
into the saved model so that Predictor and a plain transformers pipeline agree."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch

from bertviz_lib import runs
from bertviz_lib.config import DataConfig
from bertviz_lib.insight import calibration
from bertviz_lib.model import heads
from bertviz_lib.model.predict import Predictor
from bertviz_lib.runs.training_run import run_training
from tests.helpers import prepared, tiny_config


def drawn(problem_type: str, temperature, rows: int = 4000, seed: int = 0):
    """Logits, and labels drawn from the probabilities of logits / temperature: a model whose
    calibrated temperature is known."""
    rng = np.random.default_rng(seed)
    outputs = {"single_label": 3, "binary": 1, "multi_label": 3}[problem_type]
    logits = rng.normal(0.0, 3.0, (rows, outputs))
    truth_probabilities = calibration.probabilities(problem_type, logits, temperature)
    if problem_type == "single_label":
        cumulative = truth_probabilities.cumsum(axis=1)
        truth = (rng.random((rows, 1)) > cumulative).sum(axis=1)
    elif problem_type == "binary":
        truth = (rng.random(rows) < truth_probabilities[:, 1]).astype(int)
    else:
        truth = (rng.random((rows, outputs)) < truth_probabilities).astype(int)
    return logits, truth


@pytest.mark.parametrize(
    "problem_type, temperature",
    [("single_label", [2.0]), ("binary", [0.5]), ("multi_label", [0.5, 1.0, 3.0])],
)
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with(problem_type, temperature):
    logits, truth = drawn(problem_type, temperature)
    fitted = calibration.fit_temperatures(problem_type, logits, truth)
    assert fitted == pytest.approx(temperature, rel=0.12)


def test_a_label_with_too_few_positives_takes_the_temperature_of_all_labels():
    logits, truth = drawn("multi_label", [0.5, 2.0, 2.0])
    truth[:, 2] = 0
    truth[:3, 2] = 1  # 3 positives: fewer than MIN_CLASS_ROWS
    fitted = calibration.fit_temperatures("multi_label", logits, truth)
    shared = calibration._best_temperature("multi_label", logits, truth)
    assert fitted[2] == pytest.approx(shared)
    assert fitted[0] == pytest.approx(0.5, rel=0.12) and shared > 0.7  # its own, not the shared


def test_the_report_scores_each_half_with_the_temperature_of_the_other():
    logits, truth = drawn("single_label", [2.5], rows=1000, seed=1)  # overconfident logits
    names = ["a", "b", "c"]
    report = calibration.calibrate("single_label", logits, truth, names, seed=7)
    assert report["before"]["ece"] > 0.05
    assert report["after"]["ece"] <= report["before"]["ece"] / 2
    assert report["after"]["log_loss"] < report["before"]["log_loss"]
    assert report["after"]["accuracy"] == report["before"]["accuracy"]  # the argmax stays
    order = np.random.default_rng(7).permutation(1000)
    first, second = np.sort(order[:500]), np.sort(order[500:])
    fitted_on_second = calibration.fit_temperatures("single_label", logits[second], truth[second])
    half = report["halves"][0]
    assert half["rows"] == 500
    assert half["temperatures"] == pytest.approx(fitted_on_second.tolist())
    held_out = calibration.probabilities("single_label", logits[first], fitted_on_second)
    picked = held_out[np.arange(500), truth[first]]
    assert half["after"]["log_loss"] == pytest.approx(-np.log(picked).mean(), rel=1e-6)
    kept = calibration.fit_temperatures("single_label", logits, truth)
    assert report["temperatures"] == pytest.approx(kept.tolist())
    assert len(report["before"]["calibration"]["bins"]) == 10  # for the reliability diagram


@pytest.mark.parametrize("problem_type", ["single_label", "binary", "multi_label"])
def test_rows_the_model_gets_all_right_fix_no_temperature(problem_type):
    logits, truth = drawn(problem_type, [1.0, 1.0, 1.0][: 1 if problem_type == "binary" else 3])
    if problem_type == "single_label":
        right = logits.argmax(axis=1) == truth
        logits, truth = logits[right], truth[right]
    else:  # every logit on its label's side of 0
        truth = (logits > 0).astype(int).reshape(truth.shape)
    assert calibration.separated(problem_type, logits, truth)
    assert calibration.fit_temperatures(problem_type, logits, truth) == pytest.approx(1.0)
    shrinking = [calibration.log_loss(problem_type, logits, truth, t) for t in (1.0, 0.5, 0.1)]
    assert shrinking == sorted(shrinking, reverse=True)  # the loss would fall to the bound
    truth = truth.copy()
    truth[0] = (truth[0] + 1) % (3 if problem_type == "single_label" else 2)  # one mistake
    assert not calibration.separated(problem_type, logits, truth)


def test_a_run_right_on_every_validation_row_says_why_it_keeps_the_model_as_trained():
    logits, truth = drawn("single_label", [1.0, 1.0, 1.0], rows=200)
    right = logits.argmax(axis=1) == truth
    report = calibration.calibrate("single_label", logits[right], truth[right], ["a", "b", "c"])
    assert report["temperatures"] == [1.0] and report["unchanged"] == calibration.UNCHANGED
    mixed = calibration.calibrate("single_label", logits, truth, ["a", "b", "c"])
    assert "unchanged" not in mixed  # a model with mistakes fits its temperature


def test_the_temperature_s_effect_reads_as_what_it_does():
    assert calibration.effect(1.0) == "leaves the probabilities as they are"
    assert calibration.effect(1.59) == "softens the probabilities"
    assert calibration.effect(0.49) == "sharpens the probabilities"
    assert calibration.effect(0.992) == "barely sharpens the probabilities"


def test_the_verdict_says_whether_the_held_out_rows_got_better():
    logits, truth = drawn("single_label", [2.0, 2.0, 2.0], rows=2000)  # overconfident by 2x
    helped = calibration.calibrate("single_label", logits * 1.0, truth, ["a", "b", "c"])
    assert helped["after"]["ece"] < helped["before"]["ece"]
    assert "the temperature helped" in calibration.verdict(helped)
    worse = {
        "before": {"ece": 0.015, "log_loss": 0.107},
        "after": {"ece": 0.019, "log_loss": 0.116},
    }
    said = calibration.verdict(worse)
    assert "did not help" in said and "0.015 → 0.019" in said
    mixed = {"before": {"ece": 0.05, "log_loss": 0.30}, "after": {"ece": 0.04, "log_loss": 0.31}}
    assert "helped one measure and not the other" in calibration.verdict(mixed)
    same = {"before": {"ece": 0.18, "log_loss": 0.2}, "after": {"ece": 0.18, "log_loss": 0.2}}
    assert "changed nothing" in calibration.verdict(same)  # T = 1 on a half: neither helped


def test_too_few_validation_rows_keep_the_model_as_it_is():
    logits, truth = drawn("binary", [2.0], rows=12)
    report = calibration.calibrate("binary", logits, truth, ["no", "yes"])
    assert report["temperatures"] == [1.0]
    assert "12 validation rows" in report["skipped"]


@pytest.fixture(scope="module", params=["single_label", "binary", "multi_label"])
def calibrated_run(request, tiny_model_dir, tmp_path_factory) -> runs.Run:
    folder = tmp_path_factory.mktemp(f"calibrated-{request.param}")
    data = prepared(request.param)
    config = tiny_config(tiny_model_dir, problem_type=request.param, epochs=1)  # not yet right
    return run_training(data, DataConfig(), config, runs.create_run(folder))


def logits_of(predictor: Predictor, texts: list[str]) -> torch.Tensor:
    encoded = predictor.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return predictor.model(**encoded).logits


def test_the_saved_model_divides_its_logits_by_the_kept_temperature(calibrated_run):
    kept = calibration.read(calibrated_run.path)["temperatures"]
    saved = json.loads((calibrated_run.model_dir / "config.json").read_text())
    assert saved[calibration.CONFIG_KEY] == pytest.approx(kept)
    assert kept != pytest.approx([1.0] * len(kept))  # the tiny model is not calibrated as is
    assert "bertviz_temperature" in (calibrated_run.path / "README.md").read_text()
    texts = calibrated_run.predictions()["text"].tolist()[:8]
    calibrated = Predictor.from_run(calibrated_run)
    as_trained = Predictor.from_run(calibrated_run, calibrated=False)
    assert calibrated.calibrated and not as_trained.calibrated
    assert as_trained.temperatures == pytest.approx(kept)
    torch.testing.assert_close(
        logits_of(calibrated, texts) * torch.tensor(kept), logits_of(as_trained, texts)
    )
    # what was written at training time is the model as trained
    table = calibrated_run.predictions()
    columns = [f"p_{name}" for name in as_trained.label_names]
    assert np.allclose(as_trained.predict_proba(table["text"].tolist()), table[columns], atol=1e-5)


def test_a_plain_pipeline_gives_the_calibrated_probabilities(calibrated_run):
    from transformers import pipeline

    predictor = Predictor.from_run(calibrated_run)
    texts = calibrated_run.predictions()["text"].tolist()[:8]
    ours = predictor.predict_proba(texts)
    classifier = pipeline("text-classification", model=str(calibrated_run.model_dir), device="cpu")
    for row, scores in zip(ours, classifier(texts, top_k=None), strict=True):
        theirs = {item["label"]: item["score"] for item in scores}
        if predictor.problem_type == "binary":  # one sigmoid: P(the second label)
            assert theirs[predictor.label_names[1]] == pytest.approx(row[1], abs=1e-5)
        else:
            expected = dict(zip(predictor.label_names, row, strict=True))
            assert theirs == pytest.approx(expected, abs=1e-5)


def test_the_uncalibrated_zip_holds_the_model_as_trained(calibrated_run, tmp_path):
    from transformers import AutoModelForSequenceClassification

    archive = zipfile.ZipFile(io.BytesIO(calibration.model_zip(calibrated_run.model_dir, False)))
    archive.extractall(tmp_path)
    folder = tmp_path / calibrated_run.model_dir.name
    model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True)
    assert calibration.temperatures_of(model.config) == [1.0] * len(
        calibration.read(calibrated_run.path)["temperatures"]
    )
    as_trained = Predictor.from_run(calibrated_run, calibrated=False)
    layer, expected = heads.output_layer(model), heads.output_layer(as_trained.model)
    torch.testing.assert_close(layer.weight, expected.weight)
    torch.testing.assert_close(layer.bias, expected.bias)
    same = zipfile.ZipFile(io.BytesIO(calibration.model_zip(calibrated_run.model_dir, True)))
    assert sorted(same.namelist()) == sorted(
        f"{calibrated_run.model_dir.name}/{p.name}" for p in calibrated_run.model_dir.iterdir()
    )


def test_the_uncalibrated_zip_neither_follows_nor_writes_through_a_link(calibrated_run, tmp_path):
    copy = tmp_path / "run" / "model"
    shutil.copytree(calibrated_run.model_dir, copy)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the zip")
    (copy / "notes.txt").symlink_to(secret)
    names = zipfile.ZipFile(io.BytesIO(calibration.model_zip(copy, False))).namelist()
    assert "model/notes.txt" not in names and "model/config.json" in names
    assert secret.read_text() == "not for the zip"
    linked = tmp_path / "linked-model"
    linked.symlink_to(copy, target_is_directory=True)
    with pytest.raises(ValueError, match="symbolic link"):
        calibration.model_zip(linked, False)


def test_the_temperature_table_names_each_output_by_its_label_or_its_place():
    report = {"temperatures": [0.8, 1.2]}
    named = calibration.temperature_table(report, ["joy", "anger"])
    assert named["label"].tolist() == ["joy", "anger"]
    assert named["temperature"].tolist() == [0.8, 1.2]
    unnamed = calibration.temperature_table(report, ["only one name"])
    assert unnamed["label"].tolist() == ["output 1", "output 2"]
