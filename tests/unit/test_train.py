"""Training on a tiny random BERT: the heads learn, the run folder follows its contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertviz_lib import runs
from bertviz_lib.config import DataConfig
from bertviz_lib.model import heads
from bertviz_lib.model.predict import Predictor
from bertviz_lib.runs.training_run import run_training
from bertviz_lib.train.faults import FAULT_VARIABLE
from bertviz_lib.train.fit import fit
from tests.helpers import prepared, tiny_config


def test_loss_falls_on_a_learnable_set(tiny_model_dir):
    events = []
    data = prepared()
    result = fit(data.train, data.validation, tiny_config(tiny_model_dir), events.append)
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert result.best.metrics["accuracy"] >= 0.9
    assert result.stopped == "finished"
    assert not result.model.get_input_embeddings().sparse  # the model is handed back as loaded


@pytest.mark.parametrize("problem_type", ["single_label", "binary", "multi_label"])
def test_each_head_trains_saves_loads_and_predicts(trained_runs, problem_type):
    data = prepared(problem_type)  # what trained_runs trained on
    run = trained_runs(problem_type)

    assert run.state == "completed" and run.loadable
    for name in ("config.json", "status.json", "metrics.jsonl", "predictions.csv", "README.md"):
        assert (run.path / name).is_file(), name
    assert (run.model_dir / "model.safetensors").is_file()
    assert json.loads((run.path / "config.json").read_text())["problem_type"] == problem_type
    kinds = {event["event"] for event in run.events()}
    assert {"start", "step", "evaluation", "end"} <= kinds
    start = next(e for e in run.events() if e["event"] == "start")
    shortcuts = ("cls_only_last_layer", "cpu_dropout", "sparse_embedding_gradient")
    assert all(start[name] for name in shortcuts)  # the CPU shortcuts were on
    saved = json.loads((run.model_dir / "config.json").read_text())
    assert "cpu_dropout" not in json.dumps(saved)  # the saved model is plain BERT

    predictor = Predictor.from_run(run)
    assert predictor.label_names == data.train.label_names
    probabilities = predictor.predict_proba(data.validation.texts)
    assert probabilities.shape == (len(data.validation), len(data.train.label_names))
    encoded = predictor.tokenizer(data.validation.texts, padding=True, return_tensors="pt",
                                  truncation=True, max_length=predictor.max_length)  # fmt: skip
    with torch.no_grad():  # a plain call runs the whole last layer; prediction reads [CLS] alone
        whole = heads.probabilities(problem_type, predictor.model(**encoded).logits)
    assert np.allclose(probabilities, whole.numpy(), atol=1e-5)
    if problem_type != "multi_label":
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    key = "micro_f1" if problem_type == "multi_label" else "accuracy"
    assert run.metrics[key] >= 0.8
    predicted = predictor.predict(["the film and the hotel were excellent"])[0]
    expected = ["media", "travel"] if problem_type == "multi_label" else ["positive"]
    assert predicted.labels == expected


def test_saved_run_loads_in_a_plain_transformers_pipeline(trained_once):
    from transformers import pipeline

    data, run = prepared(), trained_once
    classifier = pipeline("text-classification", model=str(run.model_dir), device="cpu")
    texts = data.validation.texts
    ours = [p.labels[0] for p in Predictor.from_run(run).predict(texts)]
    theirs = [item["label"] for item in classifier(texts)]
    assert theirs == ours


def test_cancel_leaves_cancelled(tiny_model_dir, tmp_path):
    calls = {"n": 0}

    def stop_after_first_epoch() -> bool:
        calls["n"] += 1
        return calls["n"] > 12  # 72 rows / batch 8 = 9 steps an epoch

    run = run_training(
        prepared(),
        DataConfig(),
        tiny_config(tiny_model_dir),
        runs.create_run(tmp_path),
        should_stop=stop_after_first_epoch,
    )
    assert run.state == "cancelled"
    assert "best checkpoint was kept" in run.status["message"]
    assert run.loadable  # the epoch-1 checkpoint was evaluated and kept


def test_cancel_before_any_evaluation_keeps_no_model(tiny_model_dir, tmp_path):
    run = run_training(
        prepared(),
        DataConfig(),
        tiny_config(tiny_model_dir),
        runs.create_run(tmp_path),
        should_stop=lambda: True,
    )
    assert run.state == "cancelled"
    assert not run.model_dir.exists() and not run.loadable


@pytest.mark.parametrize("where", ["step:3", "save"])
def test_an_injected_fault_leaves_failed_never_completed(
    tiny_model_dir, tmp_path, monkeypatch, where
):
    monkeypatch.setenv(FAULT_VARIABLE, where)
    run_dir = runs.create_run(tmp_path)
    with pytest.raises(RuntimeError, match="Injected fault"):
        run_training(prepared(), DataConfig(), tiny_config(tiny_model_dir, epochs=1), run_dir)
    run = runs.load_run(run_dir, tmp_path)
    assert run.state == "failed"
    assert "Injected fault" in run.status["error"]
    assert not run.loadable and not run.model_dir.exists()


def test_early_stopping_keeps_the_best_checkpoint(tiny_model_dir):
    data = prepared()
    config = tiny_config(tiny_model_dir, epochs=30, patience=2, metric_for_best="accuracy")
    events = []
    result = fit(data.train, data.validation, config, events.append)
    evaluations = [e for e in events if e["event"] == "evaluation"]
    assert result.stopped == "early_stopping"
    assert len(evaluations) < 30
    accuracies = [e["metrics"]["accuracy"] for e in evaluations]
    first_best = 1 + int(np.argmax(accuracies))
    assert result.best.score == max(accuracies)
    assert len(evaluations) == first_best + 2  # two evaluations without a higher accuracy
    # Among the epochs tied at the best accuracy, the one with the lowest loss is kept.
    tied = [e for e in evaluations if e["metrics"]["accuracy"] == max(accuracies)]
    kept = min(tied, key=lambda e: e["metrics"]["log_loss"])
    assert result.best.epoch == kept["epoch"]


def test_class_weights_and_frozen_layers_train(tiny_model_dir):
    data = prepared()
    config = tiny_config(tiny_model_dir, class_weights="auto", freeze_layers=1, epochs=2)
    events = []
    fit(data.train, data.validation, config, events.append)
    start = next(e for e in events if e["event"] == "start")
    head_only = tiny_config(tiny_model_dir, head_only=True, epochs=1)
    events_head = []
    fit(data.train, data.validation, head_only, events_head.append)
    frozen = next(e for e in events_head if e["event"] == "start")
    assert frozen["trainable_parameters"] == 32 * 2 + 2  # the classifier's weight and bias
    assert frozen["trainable_parameters"] < start["trainable_parameters"]


def test_sigmoid_heads_start_at_the_base_rates(tiny_model_dir):
    from bertviz_lib.train.setup import set_up

    data = prepared("multi_label")
    setup = set_up(data.train, data.validation, tiny_config(tiny_model_dir))
    rates = data.train.label_matrix().mean(axis=0)
    start = torch.sigmoid(setup.model.classifier.bias.detach()).numpy()
    assert np.allclose(start, rates, atol=1e-5)


@pytest.mark.slow  # a separate process, or a training to its end
def test_out_of_memory_halves_the_micro_batch_and_keeps_the_same_step(tiny_model_dir, monkeypatch):
    data = prepared()
    config = tiny_config(tiny_model_dir, epochs=2)
    plain = fit(data.train, data.validation, config)
    monkeypatch.setenv(FAULT_VARIABLE, "oom_above:4")  # batches of 8 no longer fit
    events = []
    cut = fit(data.train, data.validation, config, events.append)
    memory = [e for e in events if e["event"] == "memory"]
    assert len(memory) == 1 and memory[0]["micro_batches"] == 2  # said once, kept afterwards
    assert "same effective batch" in memory[0]["message"]
    assert cut.steps == plain.steps
    for name, tensor in plain.model.state_dict().items():
        torch.testing.assert_close(cut.model.state_dict()[name], tensor, atol=2e-4, rtol=1e-3)


def test_out_of_memory_with_one_text_per_micro_batch_stops_with_a_plain_message(
    tiny_model_dir, monkeypatch
):
    from bertviz_lib.train.step import TrainingError

    data = prepared()
    monkeypatch.setenv(FAULT_VARIABLE, "oom_above:0")
    with pytest.raises(TrainingError, match="lower max_length or the batch size"):
        fit(data.train, data.validation, tiny_config(tiny_model_dir, epochs=1))


def test_a_loss_turning_nan_stops_with_a_plain_message_and_keeps_the_best_checkpoint(
    tiny_model_dir, tmp_path, monkeypatch
):
    data = prepared()
    steps_per_epoch = -(-len(data.train) // 8)
    monkeypatch.setenv(FAULT_VARIABLE, f"nan_from:{steps_per_epoch + 2}")  # in epoch 2
    run = run_training(data, DataConfig(), tiny_config(tiny_model_dir), runs.create_run(tmp_path))
    assert run.state == "failed" and run.loadable
    assert run.status["error"] == (
        "The loss became NaN or infinite; lower the learning rate. The best checkpoint was kept."
    )
    assert run.metrics["best_epoch"] == 1 and run.metrics["stopped"] == "diverged"
    probabilities = Predictor.from_run(run).predict_proba(["the film was superb"])
    assert np.isfinite(probabilities).all()
