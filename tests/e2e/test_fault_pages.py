"""What the Train page shows after each injected fault, read back the way a user would: a fresh
session opened after the run ended. Each page's messages are also saved under artifacts/faults/,
for the record of what a user sees.

The faults are injected into the real training process the page starts, through
BERTVIZ_INJECT_FAULT (inherited by the worker), or by SIGKILL from outside.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.config import MAX_EPOCHS
from bertviz_lib.train.faults import FAULT_VARIABLE
from tests.helpers import as_shown, open_page, start_training, wait_for

pytestmark = pytest.mark.e2e  # a real browser or the real training process

RECORD = Path(__file__).resolve().parents[2] / "artifacts" / "faults"
ENDED = ("completed", "failed", "interrupted", "cancelled")


def shown(app) -> dict[str, list[str]]:
    kinds = ("error", "warning", "success")
    return {kind: [as_shown(e.value) for e in getattr(app, kind)] for kind in kinds}


def record(fault: str, run: runs.Run, page: dict) -> None:
    RECORD.mkdir(parents=True, exist_ok=True)
    entry = {"fault": fault, "state": run.state, "loadable": run.loadable, "page": page}
    (RECORD / f"{fault.replace(':', '-')}.json").write_text(json.dumps(entry, indent=2))


def train_with_fault(fault: str, model: str, epochs: int, monkeypatch) -> runs.Run:
    monkeypatch.setenv(FAULT_VARIABLE, fault)
    app = start_training(open_page("app_pages/train.py"), model, epochs=epochs)
    assert not app.exception
    return runs.load_run(app.session_state[studio.WATCHED_RUN])


@pytest.mark.parametrize(
    "fault, epochs, state, loadable, expected",
    [
        ("step:3", 3, "failed", False, {"error": "RuntimeError: Injected fault"}),
        ("save", 2, "failed", False, {"error": "Injected fault (BERTVIZ_INJECT_FAULT=save)"}),
        (  # 26 steps an epoch: two epochs are evaluated before the loss turns NaN
            "nan_from:60",
            4,
            "failed",
            True,
            {
                "error": "The loss became NaN or infinite; lower the learning rate. The best "
                "checkpoint was kept."
            },
        ),  # fmt: skip
        (
            "oom_above:8",
            1,
            "completed",
            True,
            {
                "warning": "Out of memory: each batch of 16 now runs as 2 micro-batches of about 8",
                "success": "the model kept is the best evaluation (epoch 1",
            },
        ),  # fmt: skip
    ],
)
def test_each_fault_ends_in_a_plain_message_and_only_whole_models_are_listed(
    models,
    stored_model,
    no_workers_left,
    monkeypatch,
    fault,
    epochs,
    state,
    loadable,
    expected,
):
    run = train_with_fault(fault, stored_model, epochs, monkeypatch)
    wait_for(lambda: run.state in ENDED, "the run to end")
    monkeypatch.delenv(FAULT_VARIABLE)

    page = open_page("app_pages/train.py")  # a new session, as after a reload
    assert not page.exception
    messages = shown(page)
    record(fault, run, messages)
    assert run.state == state and run.loadable is loadable
    for kind, text in expected.items():
        assert any(text in message for message in messages[kind]), messages
    listed = [r.run_id for r in runs.list_runs(models) if r.loadable]
    assert listed == ([run.run_id] if loadable else [])
    if not loadable:  # the pages that need a model say there is none, and keep serving
        assert "No" in open_page("app_pages/predict.py").info[0].value


def test_a_killed_training_reads_interrupted_on_the_page(
    models,
    stored_model,
    no_workers_left,
    monkeypatch,
):
    run = train_with_fault("none", stored_model, MAX_EPOCHS, monkeypatch)
    wait_for(lambda: run.state == "running" and run.events(), "the run to start")
    os.kill(run.status["pid"], signal.SIGKILL)
    wait_for(lambda: run.status.get("state") == "interrupted", "the worker to settle the run")

    page = open_page("app_pages/train.py")
    messages = shown(page)
    record("sigkill", run, messages)
    assert run.state == "interrupted" and not run.loadable
    assert any("ended unexpectedly (exit code -9)" in m for m in messages["error"]), messages
    assert any(f"**{run.run_id}** — interrupted" in as_shown(m.value) for m in page.markdown)
