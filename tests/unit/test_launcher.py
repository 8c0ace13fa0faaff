"""The launcher: trainings start in their own process, one at a time, from a queue on disk."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest

from bertviz_lib import runs
from bertviz_lib.cli import build_parser
from bertviz_lib.config import MAX_EPOCHS, DataConfig, TrainConfig
from bertviz_lib.model import backbones
from bertviz_lib.runs import launcher
from tests.helpers import store_model, toy

DEADLINE = 120.0


def settings(model_dir: str, epochs: int, batch_size: int = 8) -> TrainConfig:
    return TrainConfig(model=model_dir, epochs=epochs, batch_size=batch_size, learning_rate=3e-3,
                       dropout=0.0, seed=0)  # fmt: skip


def long_settings(model_dir: str) -> TrainConfig:
    """A run that trains long enough to be cancelled or killed: the most epochs allowed, of
    single-text steps."""
    return settings(model_dir, MAX_EPOCHS, batch_size=1)


@pytest.fixture
def upload() -> tuple[str, bytes]:
    data = toy(rows=80)
    lines = ["review,sentiment"] + [
        f"{t},{lab[0]}" for t, lab in zip(data.texts, data.labels, strict=True)
    ]
    return "My Reviews.csv", ("\n".join(lines) + "\n").encode()


@pytest.fixture
def workers(monkeypatch):
    """Every worker that `submit` starts; none outlives its test (nor its trainer, same group)."""
    started: list[subprocess.Popen] = []
    original = launcher.ensure_worker

    def recording(root):
        process = original(root)
        if process is not None:
            started.append(process)
        return process

    monkeypatch.setattr(launcher, "ensure_worker", recording)
    yield started
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def no_worker(monkeypatch):
    monkeypatch.setattr(launcher, "ensure_worker", lambda root: None)


def wait_for(condition, what: str, details=lambda: "") -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"waited {DEADLINE:.0f} s for {what} {details()}")


def finished(*run_dirs: Path) -> list[runs.Run]:
    """The runs once each has a final state written (not merely read as stale)."""
    loaded = [runs.Run(path) for path in run_dirs]
    wait_for(
        lambda: all(run.status.get("state") in runs.FINISHED for run in loaded),
        "the runs to finish",
        lambda: [(run.status, _tail(run.path / "train.log")) for run in loaded],
    )
    return loaded


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-1500:] if path.is_file() else "(no train.log)"


def evaluated(run_dir: Path) -> bool:
    return any(event["event"] == "evaluation" for event in runs.Run(run_dir).events())


@pytest.mark.slow  # a separate process, or a training to its end
def test_two_submits_train_one_at_a_time(tmp_path, upload, tiny_model_dir, workers):
    tiny_model_dir = store_model(tiny_model_dir, tmp_path)
    first = launcher.submit(tmp_path, upload, None, DataConfig(), settings(tiny_model_dir, 4))
    second = launcher.submit(tmp_path, upload, None, DataConfig(), settings(tiny_model_dir, 2))

    wait_for(lambda: runs.Run(first).state == "running", "the first run to start")
    assert runs.Run(second).state == "queued"
    assert launcher.queue_position(runs.Run(second), tmp_path) == 1
    assert launcher.queue_position(runs.Run(first), tmp_path) is None

    one, two = finished(first, second)
    assert (one.state, two.state) == ("completed", "completed")
    assert two.events()[0]["time"] >= one.status["finished"]
    assert launcher.queue(tmp_path) == [] and launcher.active(tmp_path) is None
    assert (second / "train.log").is_file()


@pytest.mark.parametrize(
    "data_config, train_config",
    [
        (DataConfig(), TrainConfig()),
        (
            DataConfig(
                text_column="review",
                label_column="stars",
                label_delimiter="-",
                validation_fraction=0.25,
                max_rows=500,
            ),
            TrainConfig(
                model="prajjwal1/bert-tiny",
                problem_type="multi_label",
                epochs=3,
                learning_rate=3e-5,
                dropout=0.0,
                head_only=True,
                freeze_layers=2,
                class_weights="auto",
                threshold=0.35,
                device="cpu",
            ),
        ),
    ],
)
def test_the_flags_round_trip_through_the_parser(
    tmp_path, upload, no_worker, data_config, train_config
):
    run_dir = launcher.submit(tmp_path, upload, ("dev.tsv", b"x"), data_config, train_config)
    command = launcher.training_command(run_dir)
    assert command[:4] == [sys.executable, "-m", "bertviz_lib", "train"]

    args = build_parser().parse_args(command[3:])
    assert DataConfig(**{f.name: getattr(args, f.name) for f in fields(DataConfig)}) == data_config
    parsed = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    assert parsed == train_config
    assert args.run_dir == str(run_dir.resolve())
    assert args.data == str(run_dir.resolve() / "data" / "train.csv")
    assert args.validation == str(run_dir.resolve() / "data" / "validation.tsv")


@pytest.mark.slow  # a separate process, or a training to its end
def test_cancel_a_queued_and_a_running_run(tmp_path, upload, tiny_model_dir, workers):
    tiny_model_dir = store_model(tiny_model_dir, tmp_path)
    running = launcher.submit(tmp_path, upload, None, DataConfig(), long_settings(tiny_model_dir))
    waiting = launcher.submit(tmp_path, upload, None, DataConfig(), settings(tiny_model_dir, 2))
    wait_for(lambda: evaluated(running), "the first evaluation of the running run")
    assert launcher.queue_position(runs.Run(waiting)) == 1

    assert launcher.cancel(runs.Run(waiting))
    assert launcher.cancel(runs.Run(running))
    stopped, never_started = finished(running, waiting)

    assert stopped.state == "cancelled" and stopped.loadable
    assert never_started.state == "cancelled"
    assert never_started.status["message"] == "Cancelled before it started."
    assert not (waiting / "metrics.jsonl").exists() and not (waiting / "train.log").exists()
    assert not launcher.cancel(never_started)


@pytest.mark.slow  # a separate process, or a training to its end
def test_a_killed_trainer_reads_interrupted_and_the_queue_moves_on(
    tmp_path, upload, tiny_model_dir, workers
):
    tiny_model_dir = store_model(tiny_model_dir, tmp_path)
    killed = launcher.submit(tmp_path, upload, None, DataConfig(), long_settings(tiny_model_dir))
    behind = launcher.submit(tmp_path, upload, None, DataConfig(), settings(tiny_model_dir, 2))
    wait_for(lambda: evaluated(killed), "the first evaluation of the run to kill")
    os.kill(runs.Run(killed).status["pid"], signal.SIGKILL)

    lost, completed = finished(killed, behind)
    assert lost.state == "interrupted" and not lost.loadable
    assert "ended unexpectedly (exit code -9)" in lost.status["error"]
    assert completed.state == "completed"


def fake_trainer(monkeypatch, code: str) -> None:
    """A stand-in for `train` that starts in a blink: what the worker does around it is tested."""
    monkeypatch.setattr(launcher, "training_command", lambda run_dir: [sys.executable, "-c", code])


def test_a_run_cancelled_while_it_starts_is_stopped_not_left_running(
    tmp_path, upload, no_worker, monkeypatch
):
    fake_trainer(monkeypatch, "import time; time.sleep(60)")
    run_dir = launcher.submit(tmp_path, upload, None, DataConfig(), TrainConfig())
    worker = threading.Thread(target=launcher.work, args=(tmp_path,))
    worker.start()
    wait_for(lambda: "pid" in runs.Run(run_dir).status, "the worker to start the run")
    assert runs.Run(run_dir).state == "queued"  # started, but not yet marked running by itself

    assert launcher.cancel(runs.Run(run_dir))
    worker.join(timeout=DEADLINE)
    assert not worker.is_alive()
    run = runs.Run(run_dir)
    assert run.state == "cancelled" and run.status["message"] == "Cancelled before training began."


def test_a_trainer_dying_before_training_fails_its_run_and_the_queue_moves_on(
    tmp_path, upload, no_worker, monkeypatch
):
    fake_trainer(monkeypatch, "raise SystemExit(3)")
    first = launcher.submit(tmp_path, upload, None, DataConfig(), TrainConfig())
    second = launcher.submit(tmp_path, upload, None, DataConfig(), TrainConfig())
    launcher.work(tmp_path)  # returns once the queue is empty
    for run in (runs.Run(first), runs.Run(second)):
        assert run.state == "failed" and "(exit code 3)" in run.status["error"]
    assert launcher.queue(tmp_path) == []


def test_uploaded_data_lives_in_the_run_folder_only(tmp_path, upload, no_worker):
    renamed = ("../../secret/train.xlsx", upload[1])
    validation = ("C:\\Users\\me\\dev set.TSV", b"text\tlabel\nfine\tpositive\n")
    run_dir = launcher.submit(tmp_path, renamed, validation, DataConfig(), TrainConfig())

    launch = json.loads((run_dir / "launch.json").read_text())
    assert (launch["data"], launch["validation"]) == ("data/train.csv", "data/validation.tsv")
    contents = (upload[1], validation[1])

    def holders() -> list[Path]:
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        return sorted(p for p in files if p.read_bytes() in contents)

    assert holders() == [run_dir / "data" / "train.csv", run_dir / "data" / "validation.tsv"]
    assert launcher.cancel(runs.Run(run_dir))
    runs.delete_run(run_dir, tmp_path)
    assert holders() == []


def test_a_model_folder_outside_the_store_is_refused_before_any_run_exists(
    tmp_path, upload, tiny_model_dir, no_worker
):
    store = tmp_path / "store"
    with pytest.raises(backbones.BackboneError, match="outside the model store"):
        launcher.submit(store, upload, None, DataConfig(), TrainConfig(model=tiny_model_dir))
    assert runs.list_runs(store) == [] and launcher.queue(store) == []


def test_a_model_folder_in_the_store_is_passed_on_as_its_full_path(tmp_path, upload, no_worker):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text("{}")
    (tmp_path / "mine" / "model.safetensors").write_bytes(b"")
    run_dir = launcher.submit(tmp_path, upload, None, DataConfig(), TrainConfig(model="mine"))
    launch = json.loads((run_dir / "launch.json").read_text())
    assert launch["train_config"]["model"] == str((tmp_path / "mine").resolve())


def test_a_worker_leaves_at_once_while_another_holds_the_lock(tmp_path, upload, workers):
    with open(tmp_path / ".training.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run_dir = launcher.submit(tmp_path, upload, None, DataConfig(), TrainConfig())
        started = time.monotonic()
        launcher.work(tmp_path)
        assert time.monotonic() - started < 1.0
    assert workers == []  # submit saw the lock taken and started none
    assert runs.Run(run_dir).state == "queued" and launcher.queue_position(runs.Run(run_dir)) == 1
