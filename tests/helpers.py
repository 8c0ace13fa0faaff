"""What several test files share: waiting, a tiny data set that a tiny model learns, settings
that train it in seconds, AppTest steps through the pages, and tiny BERTs for the patch tests.
Fixtures live in conftest.py; test files import helpers from here and never from each other."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from transformers import BertConfig, BertForSequenceClassification

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import DataReport, LabelledData, PreparedData
from bertviz_lib.model.patches.cls_only import compute_only_cls_in_last_layer
from bertviz_lib.runs import Run
from bertviz_lib.train.graphed_step import GraphedStep

ROOT = Path(__file__).resolve().parents[1]  # the repository


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Waiting and the run store ----------------------------------------------------------------------


def wait_for(condition, what: str, seconds: float = 180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


STORED_MODEL = "tiny-bert"


def store_model(model_dir: str, root: str | Path) -> str:
    """Copy a model into a run store: the app loads a typed model folder only from inside it."""
    shutil.copytree(model_dir, Path(root) / STORED_MODEL, dirs_exist_ok=True)
    return STORED_MODEL


def copy_run(run: Run, store: Path) -> Run:
    """A run copied into another run store, where a test may change or delete it."""
    return Run(Path(shutil.copytree(run.path, Path(store) / run.run_id)))


def as_shown(markdown: str) -> str:
    """Markdown a page wrote, as a reader sees it: the escapes `render.markdown_literal` adds to
    user text (backslashes, invisible word joiners) taken out again."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown).replace("\u2060", ""))


# A data set a tiny model learns, and settings that learn it in seconds -------------------------

GOOD = ["good", "great", "lovely", "superb", "excellent", "wonderful"]
BAD = ["bad", "awful", "terrible", "poor", "horrible", "dreadful"]
MEDIA = ["film", "book", "show", "song"]
TRAVEL = ["hotel", "room", "flight", "beach"]


def toy(problem_type: str = "single_label", rows: int = 96, seed: int = 0) -> LabelledData:
    """Texts whose labels are decided by single words: learnable by a tiny model in a few epochs.

    Single-label rows are positive or negative by their adjective; multi-label rows name one or two
    things, and each thing's topic (media, travel) is a label.
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(rows):
        positive = i % 2 == 0
        word = rng.choice(GOOD if positive else BAD)
        if problem_type == "multi_label":
            topics = [("media",), ("travel",), ("media", "travel")][i % 3]
            things = [rng.choice(MEDIA if t == "media" else TRAVEL) for t in topics]
            texts.append(
                f"the {' and the '.join(things)} {'were' if len(things) > 1 else 'was'} {word}"
            )
            labels.append(topics)
        else:
            texts.append(f"the {rng.choice(MEDIA + TRAVEL)} was {word}")
            labels.append(("positive",) if positive else ("negative",))
    names = sorted({name for row in labels for name in row})
    return LabelledData(texts, labels, names, problem_type)


def prepared(problem_type: str = "single_label", rows: int = 96) -> PreparedData:
    data = toy(problem_type, rows)
    cut = int(rows * 0.75)
    return PreparedData(
        data.subset(range(cut)), data.subset(range(cut, rows)), DataReport(), "text", "label"
    )


NEGATIVE = "the hotel was awful"  # a text the toy set's model learns to call negative


def tiny_config(model_dir: str, **overrides) -> TrainConfig:
    # Without dropout and with ten epochs the tiny random model learns the toy set for every seed
    # tried (0-5); with dropout and six epochs one seed in six stayed at chance.
    settings = dict(
        model=model_dir, epochs=10, batch_size=8, learning_rate=3e-3, seed=0, dropout=0.0
    )
    return TrainConfig(**{**settings, **overrides})


# The pages through AppTest ---------------------------------------------------------------------

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE_TIMEOUT = 120  # seconds an AppTest script run may take (a page that trains or explains)


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=PAGE_TIMEOUT).run()
    return app.switch_page(page).run()


def upload(app: AppTest, name: str, content: bytes) -> AppTest:
    app.radio[0].set_value("My own file").run()
    app.file_uploader[0].set_value((name, content, "text/csv"))
    return app.run()


def messages(app: AppTest, kind: str) -> list[str]:
    """The texts of one kind of element (error, warning, success...), as a reader sees them."""
    return [as_shown(element.value) for element in getattr(app, kind)]


REVIEWS = (
    "comment,stars\n"
    + "".join(f"great product number {i},good\n" for i in range(30))
    + "".join(f"broken thing number {i},bad\n" for i in range(30))
).encode()


def start_training(app: AppTest, model_dir: str, epochs: int = 3) -> AppTest:
    app.selectbox[0].set_value("A local folder…").run()
    app.text_input[0].set_value(model_dir)
    app.text_input(key="setting.learning_rate").set_value("3e-3")
    app.number_input(key="setting.epochs").set_value(epochs)
    app.text_input(key="setting.dropout").set_value("0")
    app.button[0].click()
    return app.run()


# Tiny BERTs whose training steps the patch tests compare ---------------------------------------

SMALL = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64)  # fmt: skip


def twins(dropout: float = 0.0, attention: str = "sdpa"):
    config = BertConfig(**SMALL, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                        num_labels=3, attn_implementation=attention)  # fmt: skip
    torch.manual_seed(0)
    whole = BertForSequenceClassification(config)
    short = BertForSequenceClassification(config)
    short.load_state_dict(whole.state_dict())
    assert compute_only_cls_in_last_layer(short)
    return whole, short


def batch(padded: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    input_ids = torch.randint(5, 120, (4, 9))
    attention_mask = torch.ones_like(input_ids)
    if padded:
        attention_mask[0, 3:] = 0
        attention_mask[2, 6:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def assert_same_training_step(reference, other, inputs: dict[str, torch.Tensor]) -> None:
    """The same loss (to 1e-6) and the same gradient on every parameter, in training mode."""
    labels = torch.tensor([0, 2, 1, 2])
    losses = [m.train()(**inputs, labels=labels).loss for m in (reference, other)]
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-6)
    for loss in losses:
        loss.backward()
    for (name, a), b in zip(reference.named_parameters(), other.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6, msg=name)


# CUDA graphs on a CPU ----------------------------------------------------------------------------


class FakeCuda:
    """torch.cuda's graph API on a CPU: a capture records the step instead of running it, and a
    replay runs the recorded step on the same static tensors, as a CUDA graph does."""

    def __init__(self, monkeypatch) -> None:
        self.capturing: list | None = None
        compute = GraphedStep._compute
        fake = self

        class Graph:
            def replay(self) -> None:
                compute(*self.recorded)

        @contextlib.contextmanager
        def graph(cuda_graph, pool=None, stream=None):
            self.capturing = []
            yield
            cuda_graph.recorded, self.capturing = self.capturing, None

        def record_or_run(step, inputs):
            if fake.capturing is None:
                compute(step, inputs)
            else:
                fake.capturing.extend([step, inputs])

        stream = SimpleNamespace(wait_stream=lambda other: None)
        for name, value in {
            "Stream": lambda device: stream, "current_stream": lambda device: stream,
            "stream": lambda s: contextlib.nullcontext(), "graph_pool_handle": lambda: None,
            "CUDAGraph": Graph, "graph": graph, "synchronize": lambda device: None,
        }.items():  # fmt: skip
            monkeypatch.setattr(torch.cuda, name, value)
        monkeypatch.setattr(GraphedStep, "_compute", record_or_run)


# Two processes under torchrun -------------------------------------------------------------------


def train_under_torchrun(model_dir: str, folder: Path, *flags: str) -> Path:
    """`train` on the toy data in two CPU processes under torchrun; returns the run store. The
    test fails here, with the processes' last words, if the command does not succeed."""
    data = toy(rows=96)
    csv = folder / "toy.csv"
    lines = [f"{text},{label[0]}" for text, label in zip(data.texts, data.labels, strict=True)]
    csv.write_text("text,label\n" + "\n".join(lines) + "\n")
    models = folder / "models"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "bertviz_lib", "--output-dir", str(models), "train", "--data", str(csv),
        "--model", model_dir, "--lr", "3e-3", "--dropout", "0", "--batch-size", "8",
        "--device", "cpu", "--json", *flags,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return models
