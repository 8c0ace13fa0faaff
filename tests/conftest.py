"""Shared fixtures: a tiny random BERT with the bundled tokenizer, so training takes seconds; a run
store per test; runs trained once per session and copied into each test's store."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bertviz_lib import runs  # noqa: E402 - after the environment is set
from bertviz_lib.config import DataConfig  # noqa: E402
from bertviz_lib.model.predict import Predictor  # noqa: E402
from bertviz_lib.runs import launcher  # noqa: E402
from bertviz_lib.runs.training_run import run_training  # noqa: E402
from tests.helpers import copy_run, prepared, store_model, tiny_config, wait_for  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """Hidden size 32, 2 layers, 2 heads; random weights, saved once per test session."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bertviz_lib.model.backbones import bundled_path

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(bundled_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setattr(runs.store, "DEFAULT_ROOT", root)
    return root


@pytest.fixture
def stored_model(models, tiny_model_dir) -> str:
    """The tiny model inside the run store, where a folder typed on the Train page may load from."""
    return store_model(tiny_model_dir, models)


@pytest.fixture
def no_workers_left(models):
    yield
    for run in runs.list_runs(models):  # drain: cancel what is left, wait for the worker
        launcher.cancel(run)
    wait_for(lambda: launcher.active(models) is None and not launcher.queue(models), "drain", 60)


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, tiny_model_dir) -> Callable[[str], runs.Run]:
    """`trained_runs(problem_type)`: a completed run of the tiny model on the toy set with that
    head, trained the first time it is asked for in a session. Tests only read it; a test that
    changes a run takes a copy (`trained_run`)."""
    done: dict[str, runs.Run] = {}

    def train(problem_type: str) -> runs.Run:
        if problem_type not in done:
            data = prepared(problem_type)
            folder = tmp_path_factory.mktemp(f"trained-{problem_type}")
            config = tiny_config(tiny_model_dir, problem_type=problem_type)
            done[problem_type] = run_training(data, DataConfig(), config, runs.create_run(folder))
        return done[problem_type]

    return train


@pytest.fixture(scope="session")
def trained_once(trained_runs) -> runs.Run:
    """The single-label run most page and explanation tests read."""
    return trained_runs("single_label")


@pytest.fixture
def trained_run(models, trained_once) -> runs.Run:
    """The single-label run, copied into this test's run store."""
    return copy_run(trained_once, models)


@pytest.fixture(scope="session")
def predictor(trained_once) -> Predictor:
    """The trained run's model, loaded once a session (tests only read it)."""
    return Predictor.from_run(trained_once)
