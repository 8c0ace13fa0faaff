"""Shared fixtures: a tiny random BERT with the bundled tokenizer, so training takes seconds."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bertviz_lib import runs  # noqa: E402 - after the environment is set
from bertviz_lib.runs import launcher


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


STORED_MODEL = "tiny-bert"


def store_model(model_dir: str, root: str | Path) -> str:
    """Copy a model into a run store: the app loads a typed model folder only from inside it."""
    shutil.copytree(model_dir, Path(root) / STORED_MODEL, dirs_exist_ok=True)
    return STORED_MODEL


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setattr(runs.store, "DEFAULT_ROOT", root)
    return root


def wait_for(condition, what: str, seconds: float = 180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


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


def as_shown(markdown: str) -> str:
    """Markdown a page wrote, as a reader sees it: the escapes `render.markdown_literal` adds to
    user text (backslashes, invisible word joiners) taken out again."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown).replace("\u2060", ""))
