"""Training in its own process, one at a time per machine, from a queue kept on disk.

The Train page calls `submit`; a detached worker (`python -m bertviz_lib worker`) starts the queued
runs one after another with the command line's own `train --run-dir`. Every piece of state lives
in the run folders and in two lock files in the run root, so closing or reloading the browser, or
restarting the app, loses nothing.

- `.training.lock` is held by the worker for as long as it trains (and by the trainer it started,
  which inherits it), so a second worker sees it taken and leaves at once.
- `.queue.lock` is held for an instant by the worker while it starts a run and by `cancel`, so a
  run cancelled at the moment it is picked is either cancelled or started, never both.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path, PurePath
from typing import IO

from bertviz_lib import runs
from bertviz_lib.config import DataConfig, TrainConfig
from bertviz_lib.model import backbones
from bertviz_lib.runs import files

REPOSITORY = Path(__file__).resolve().parents[2]
DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".txt")
TRAINING_LOCK = ".training.lock"
QUEUE_LOCK = ".queue.lock"
WORKER_LOG = ".worker.log"


def submit(
    root: str | Path,
    train_file: tuple[str, bytes],
    validation_file: tuple[str, bytes] | None,
    data_config: DataConfig,
    train_config: TrainConfig,
    run_name: str | None = None,
) -> Path:
    """Queue a training and make sure a worker will start it.

    The uploads are written into the run folder, so deleting the run deletes them too. The worker
    ignores a queued run until its launch.json exists, and that file is written last. A local
    model folder must lie inside `root` (BackboneError otherwise), and is passed on resolved.
    """
    backbone = backbones.resolve(train_config.model, inside=root)
    if backbone.kind == "local":
        train_config = replace(train_config, model=backbone.location)
    run_dir = runs.create_run(root, run_name)
    validation = _save_upload(run_dir, "validation", validation_file) if validation_file else None
    launch = {
        "data": _save_upload(run_dir, "train", train_file),
        "validation": validation,
        "data_config": asdict(data_config),
        "train_config": asdict(train_config),
    }
    files.write_json(run_dir / files.LAUNCH, launch)
    ensure_worker(root)
    return run_dir


def _save_upload(run_dir: Path, role: str, upload: tuple[str, bytes]) -> str:
    """Only the suffix of the browser's file name is kept: it picks the format, and nothing the
    user typed can reach a path."""
    name, content = upload
    suffix = PurePath(name.replace("\\", "/")).suffix.lower()
    relative = f"{files.DATA}/{role}{suffix if suffix in DATA_SUFFIXES else '.csv'}"
    (run_dir / files.DATA).mkdir(exist_ok=True)
    (run_dir / relative).write_bytes(content)
    return relative


def training_command(run_dir: str | Path) -> list[str]:
    """The same entry point as the command line, so a queued run trains exactly like a CLI run."""
    run_dir = Path(run_dir).resolve()
    launch = json.loads((run_dir / files.LAUNCH).read_text(encoding="utf-8"))
    command = [sys.executable, "-m", "bertviz_lib", "train", "--run-dir", str(run_dir)]
    command += ["--data", str(run_dir / launch["data"])]
    if launch.get("validation"):
        command += ["--validation", str(run_dir / launch["validation"])]
    return (
        command
        + _flags(DataConfig(**launch["data_config"]))
        + _flags(TrainConfig(**launch["train_config"]))
    )


def _flags(config: DataConfig | TrainConfig) -> list[str]:
    """One flag per field, as the CLI (`cli/__init__.py`) declares them. `--name=value` keeps a
    value that starts with '-' (a label delimiter, say) from reading as a flag; None is the
    parser's own default."""
    flags = []
    for item in fields(config):
        value = getattr(config, item.name)
        name = item.name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        elif value is not None:
            flags.append(f"--{name}={value}")
    return flags


def work(root: str | Path) -> None:
    """Train the queued runs one after another until none is left.

    After letting go of the lock it looks at the queue once more: a run submitted in that instant
    had its own worker turned away by the lock and would otherwise wait for the next submit.
    """
    root = Path(root)
    tried: set[str] = set()  # a run whose failure could not even be written is not tried again

    def waiting() -> list[runs.Run]:
        return [run for run in queue(root) if run.run_id not in tried]

    while True:
        with _training_lock(root) as lock:
            if lock is None:
                return
            while pending := waiting():
                tried.add(pending[0].run_id)
                _train(pending[0], lock)
        if not waiting():
            return


def _train(run: runs.Run, lock: IO) -> None:
    """One run, whatever goes wrong: an exception here (a launch.json the trainer cannot be
    started from, say) fails this run with its message, and the worker goes on to the next one
    rather than dying with the run left at the head of the queue for every later worker."""
    try:
        process = _start(run, lock)
        if process is not None:
            _settle(run, process.wait())
    except Exception as error:  # noqa: BLE001 - the queue must move on whatever happened
        print(f"{run.run_id} failed in the worker: {error!r}", flush=True)
        _fail(run, f"The training could not be started: {type(error).__name__}: {error}")


def _fail(run: runs.Run, message: str) -> None:
    if run.status.get("state") not in ("queued", "running"):
        return
    try:
        runs.RunWriter(run.path).set_status("failed", error=message)
    except OSError as error:  # a full disk, say: the worker log keeps the reason
        print(f"{run.run_id}: could not write its failure ({error})", flush=True)


def _start(run: runs.Run, lock: IO) -> subprocess.Popen | None:
    """The state is read again under the queue lock: a run cancelled a moment ago must not start.

    Until the trainer marks itself running (once its data is read), the pid written here is what
    lets `cancel` reach it. The trainer inherits the training lock, so even if this worker dies no
    second training starts beside it.
    """
    with _queue_lock(run.path.parent):
        if run.status.get("state") != "queued":
            return None
        try:
            command = training_command(run.path)
        except (OSError, ValueError, TypeError, KeyError) as error:
            runs.RunWriter(run.path).set_status("failed", error=f"Unreadable launch.json: {error}")
            return None
        print(f"starting {run.run_id}", flush=True)
        with open(run.path / files.TRAIN_LOG, "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=REPOSITORY,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(lock.fileno(),),
            )
        try:
            runs.RunWriter(run.path).set_status(
                "queued", pid=process.pid, host=socket.gethostname(),
                pid_started=runs.process_start_time(process.pid),
            )  # fmt: skip
        except OSError as error:  # the trainer runs anyway: wait for it, never start a second
            print(f"{run.run_id}: could not record its process ({error})", flush=True)
    return process


def _settle(run: runs.Run, code: int) -> None:
    """A trainer that ended without writing a final state (SIGKILL, out of memory) must not leave
    its run looking queued or running forever, nor block the queue."""
    state = run.status.get("state")
    if state not in ("queued", "running"):
        return
    writer = runs.RunWriter(run.path)
    if state == "queued" and code == -signal.SIGTERM:  # cancelled before its handler was set
        writer.set_status("cancelled", message="Cancelled before training began.")
    elif state == "queued":
        writer.set_status(
            "failed",
            error=f"The training process ended before training began (exit code {code}); "
            "see train.log.",
        )
    else:
        writer.set_status(
            "interrupted",
            error=f"The training process ended unexpectedly (exit code {code}); see train.log.",
        )


def ensure_worker(root: str | Path) -> subprocess.Popen | None:
    """Start a worker unless one is at work; that one looks at the queue again before it leaves,
    so a run queued now is never stranded. Checking the lock first spares a process start (and
    its torch import) on every submit."""
    root = Path(root).resolve()
    with _training_lock(root) as lock:
        if lock is None:
            return None
    command = [sys.executable, "-m", "bertviz_lib", "--output-dir", str(root), "worker"]
    with open(root / WORKER_LOG, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=REPOSITORY,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the Streamlit server and its reloads
        )


def queue(root: str | Path) -> list[runs.Run]:
    """Queued runs, oldest first. A queued run without launch.json is still being submitted, or
    was made by `train` on the command line, and is not the worker's to start."""
    waiting = [
        run
        for run in runs.list_runs(root)
        if run.state == "queued" and (run.path / files.LAUNCH).is_file()
    ]
    return sorted(waiting, key=lambda run: run.status.get("created", 0))


def queue_position(run: runs.Run, root: str | Path | None = None) -> int | None:
    """1 = starts next (or is starting now); None once it runs, has ended or was cancelled."""
    waiting = [r.run_id for r in queue(root if root is not None else run.path.parent)]
    return waiting.index(run.run_id) + 1 if run.run_id in waiting else None


def active(root: str | Path) -> runs.Run | None:
    return next((run for run in runs.list_runs(root) if run.state == "running"), None)


def cancel(run: runs.Run) -> bool:
    """A run that has not started is cancelled outright; a started one gets SIGTERM and stops at
    its next step, keeping its best checkpoint. False when there was nothing to cancel."""
    with _queue_lock(run.path.parent):
        status = run.status
        if status.get("state") == "queued" and "pid" not in status:
            runs.RunWriter(run.path).set_status("cancelled", message="Cancelled before it started.")
            return True
        if run.state in ("queued", "running") and status.get("pid"):
            if not is_its_trainer(status):
                return False
            try:
                os.kill(int(status["pid"]), signal.SIGTERM)
            except ProcessLookupError:
                return False
            return True
    return False


def is_its_trainer(status: dict) -> bool:
    """Whether the pid in a run's status is still the process that was started for it: same
    machine, and the same start time. After the trainer ends (or the machine restarts) the pid
    may belong to any other process, which a Cancel must never signal."""
    if status.get("host") != socket.gethostname() or not status.get("pid_started"):
        return False
    return runs.process_start_time(int(status["pid"])) == status["pid_started"]


@contextmanager
def _training_lock(root: Path) -> Iterator[IO | None]:
    """The open lock file while this process holds the lock, None when someone else does.

    It is released when the file is closed by every process that shares it, never explicitly:
    a trainer that outlives its worker keeps holding it.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / TRAINING_LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
        else:
            yield handle


@contextmanager
def _queue_lock(root: Path) -> Iterator[None]:
    with open(root / QUEUE_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
