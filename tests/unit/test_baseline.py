"""The TF-IDF + logistic regression baseline each run fits on its own split, and its comparison
with the fine-tuned model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bertviz_lib import runs
from bertviz_lib.cli import build_parser
from bertviz_lib.config import DataConfig, TrainConfig, help_text
from bertviz_lib.data import LabelledData
from bertviz_lib.insight import baseline
from bertviz_lib.runs import files, predictions
from bertviz_lib.runs.training_run import run_training
from tests.helpers import prepared, tiny_config, toy


@pytest.mark.parametrize("problem_type", ["single_label", "binary", "multi_label"])
def test_the_baseline_learns_word_labels_for_each_head(problem_type):
    data = toy(problem_type, rows=200)
    train, validation = data.subset(range(150)), data.subset(range(150, 200))
    fitted = baseline.fit(train, validation, threshold=0.5)
    assert fitted.probabilities.shape == (50, len(data.label_names))
    key = "micro_f1" if problem_type == "multi_label" else "accuracy"
    assert fitted.metrics[key] >= 0.9
    assert fitted.metrics["problem_type"] == problem_type


def test_a_class_missing_from_training_rows_gets_probability_zero():
    texts = ["good film", "bad film", "good book", "bad book"] * 5
    labels = [("pos",), ("neg",)] * 10
    train = LabelledData(texts, labels, ["neg", "odd", "pos"], "single_label")
    fitted = baseline.fit(train, train, threshold=0.5)
    assert np.allclose(fitted.probabilities[:, 1], 0.0)
    assert np.allclose(fitted.probabilities.sum(axis=1), 1.0)
    assert fitted.metrics["accuracy"] == 1.0


def test_a_run_writes_the_baseline_beside_its_predictions(tiny_model_dir, tmp_path):
    data = prepared()
    run = run_training(data, DataConfig(), tiny_config(tiny_model_dir), runs.create_run(tmp_path))
    written = baseline.read(run.path)
    assert written["model"] == baseline.DESCRIPTION
    assert written["train_rows"] == len(data.train)
    assert written["validation_rows"] == len(data.validation)
    table = run.predictions()
    assert len(written["predicted_labels"]) == len(table)
    refit = baseline.fit(data.train, data.validation, 0.5)
    assert written["metrics"]["accuracy"] == pytest.approx(refit.metrics["accuracy"])
    assert written["settings"]["ngram_range"] == [1, 2]
    assert f"baseline ({baseline.DESCRIPTION}): accuracy" in (run.path / "README.md").read_text()


def test_the_setting_turns_the_baseline_off_and_is_explained(tiny_model_dir, tmp_path):
    data = prepared()
    config = tiny_config(tiny_model_dir, epochs=1, baseline=False)
    run = run_training(data, DataConfig(), config, runs.create_run(tmp_path))
    assert run.state == "completed"
    assert not (run.path / files.BASELINE_METRICS).exists()
    assert TrainConfig().baseline
    assert "TF-IDF" in help_text(TrainConfig, "baseline")
    arguments = build_parser().parse_args(["train", "--no-baseline"])
    assert arguments.baseline is False


def test_a_baseline_that_cannot_be_fitted_says_why_in_its_file(tmp_path):
    symbols = LabelledData(["!!", "??", "..", "!?"] * 5, [("a",), ("b",)] * 10, ["a", "b"],
                           "single_label")  # fmt: skip
    written = baseline.write(tmp_path, symbols, symbols, 0.5)
    assert "vocabulary" in written["error"]
    assert baseline.read(tmp_path) == written


def test_headline_and_per_class_f1_sit_side_by_side():
    mine = {"accuracy": 0.9, "macro_f1": 0.8, "roc_auc": None,
            "per_class": [{"label": "a", "f1": 0.7}, {"label": "b", "f1": 0.9}]}  # fmt: skip
    theirs = {"accuracy": 0.85, "macro_f1": 0.82, "roc_auc": 0.9,
              "per_class": [{"label": "a", "f1": 0.6}, {"label": "b", "f1": 0.95}]}  # fmt: skip
    headline = baseline.headline(mine, theirs)
    assert headline["metric"].tolist() == ["accuracy", "macro_f1"]  # roc_auc: one side only
    assert headline["fine-tuned minus baseline"].tolist() == pytest.approx([0.05, -0.02])
    per_class = baseline.per_class_f1(mine, theirs)
    assert per_class.to_dict("records") == [
        {"label": "a", "fine-tuned": 0.7, "baseline": 0.6},
        {"label": "b", "fine-tuned": 0.9, "baseline": 0.95},
    ]


def test_disagreements_list_the_rows_each_model_alone_gets_right():
    table = pd.DataFrame(
        {
            predictions.TEXT: ["one", "two", "three", "four"],
            predictions.TRUE: ["a;b", "a", "b", "b;a"],
            predictions.PREDICTED: ["a;b", "b", "b", "a"],
        }
    )
    mine_only, theirs_only = baseline.disagreements(table, ["a", "a", "b", "a;b"], "multi_label")
    assert mine_only["text"].tolist() == ["one"]
    assert theirs_only["text"].tolist() == ["two", "four"]  # "a;b" is "b;a": sets are compared
    assert list(theirs_only.columns) == ["text", "true_label", "fine-tuned", "baseline"]
    with pytest.raises(ValueError, match="predicted 1 rows"):
        baseline.disagreements(table, ["a"], "multi_label")
