"""The run folder: the contract between the training process and every reader.

One writer (the training process, through `RunWriter`) and many readers (`load_run`,
`list_runs`). Readers never write into a run; the one exception is the app's queue
(launcher.py), which marks runs that never got to train (cancelled before starting, or whose
process died without a final state). `completed` is written last, after `model/` has been
renamed into place whole, so a run that says `completed` can always be loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bertviz_lib.runs import files

STATES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
FINISHED = ("completed", "failed", "cancelled", "interrupted")
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DEFAULT_ROOT = Path(os.environ.get("BERTVIZ_MODELS_DIR", "models"))


class RunError(ValueError):
    """A run id or folder that cannot be used; the message says which and why."""


def validate_run_id(run_id: str) -> str:
    """Run ids name a folder directly under the run root: no separators, no '..'."""
    if not RUN_ID.match(run_id or "") or ".." in run_id:
        raise RunError(
            f"'{run_id}' is not a valid run id: use letters, digits, '.', '_' and '-' only."
        )
    return run_id


def slug(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return cleaned[:60] or "run"


def new_run_id(name: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slug(name or 'run')}"


def _now() -> float:
    return time.time()


def process_start_time(pid: int) -> str | None:
    """When process `pid` started, as a string that differs for a later process given the same pid
    (after it ended, or after a reboot); None when it cannot be told (no such process).

    Linux: this boot's id and the start time in clock ticks from /proc; elsewhere `ps`.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        stat = None
    if stat is not None:
        boot = Path("/proc/sys/kernel/random/boot_id")
        boot_id = boot.read_text().strip() if boot.is_file() else ""
        return f"{boot_id}:{stat.rsplit(')', 1)[1].split()[19]}"
    if not Path("/proc/self").exists():  # macOS and the BSDs
        try:
            started = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True,
                                     text=True, timeout=5).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return started or None
    return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Run:
    """A run folder as readers see it."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def status(self) -> dict:
        return files.read_json(self.path / files.STATUS)

    @property
    def config(self) -> dict:
        return files.read_json(self.path / files.CONFIG)

    @property
    def model_dir(self) -> Path:
        return self.path / files.MODEL

    def real_file(self, name: str) -> Path | None:
        """The run's own file `name`, or None when it is missing or a symbolic link (a link could
        point a reader at any file on the machine)."""
        path = self.path / name
        return path if path.is_file() and not path.is_symlink() else None

    @property
    def state(self) -> str:
        """The stored state, except that a `running` run whose process is gone is `interrupted`."""
        status = self.status
        state = status.get("state", "interrupted")
        if state == "running" and self._stale(status):
            return "interrupted"
        return state

    def _stale(self, status: dict) -> bool:
        if _now() - float(status.get("heartbeat", 0)) > STALE_AFTER_SECONDS:
            return True
        same_host = status.get("host") == socket.gethostname()
        return bool(same_host and status.get("pid") and not _process_alive(int(status["pid"])))

    @property
    def loadable(self) -> bool:
        """A whole model folder from a run that ended well, was cancelled, or diverged after a
        checkpoint worth keeping (the error says so)."""
        folder = self.model_dir
        if not folder.is_dir() or folder.is_symlink() or not (folder / "config.json").is_file():
            return False
        if any(entry.is_symlink() for entry in folder.iterdir()):
            return False
        kept = self.state == "failed" and self.status.get("kept_checkpoint") is True
        return self.state in ("completed", "cancelled") or kept

    def events(self) -> list[dict]:
        """Every event so far; a line being written at this moment is skipped."""
        path = self.real_file(files.EVENTS)
        if path is None:
            return []
        return _parsed(path.read_text(encoding="utf-8").splitlines())

    def events_after(self, offset: int) -> tuple[list[dict], int]:
        """The events written after byte `offset` of metrics.jsonl, and the offset to pass next
        time: a page that polls a run every two seconds reads each line once, not the whole file
        each time. A line still being written is left for the next call; a file shorter than
        `offset` (replaced) is read from its start."""
        path = self.real_file(files.EVENTS)
        if path is None:
            return [], 0
        with open(path, "rb") as handle:
            if offset > handle.seek(0, os.SEEK_END):
                offset = 0
            handle.seek(offset)
            chunk = handle.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]
        return _parsed(whole.decode("utf-8", errors="replace").splitlines()), offset + len(whole)

    def predictions(self):
        """Validation predictions of the kept checkpoint (None before there are any); the columns
        are described in runs/predictions.py."""
        from bertviz_lib.runs import predictions

        return predictions.read(self.path)

    @property
    def metrics(self) -> dict:
        """Validation metrics of the kept checkpoint (empty until the run has one)."""
        return files.read_json(self.path / files.FINAL_METRICS)


def _parsed(lines: list[str]) -> list[dict]:
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def run_root(root: str | Path | None = None) -> Path:
    return Path(root) if root is not None else DEFAULT_ROOT


def load_run(run: str | Path, root: str | Path | None = None) -> Run:
    """A run by id or by the path of its folder, inside `root` either way (a path elsewhere is
    refused: deleting it would delete a folder outside the store); never through a symbolic
    link, which could point a run id at any folder on the machine, nor with a linked status."""
    candidate = Path(run)
    if candidate.is_dir() and (candidate / files.STATUS).exists():
        folder = candidate
    else:
        folder = run_root(root) / validate_run_id(str(run))
        if not (folder / files.STATUS).exists():
            raise RunError(f"There is no run '{run}' in {run_root(root)}/.")
    return Run(_inside(_real_folder(folder), run_root(root)))


def _real_folder(folder: Path) -> Path:
    if folder.is_symlink():
        raise RunError(f"'{folder}' is a symbolic link; run folders must be real folders.")
    if (folder / files.STATUS).is_symlink():
        raise RunError(f"'{folder}' holds a symbolic link as its {files.STATUS}; not a run.")
    return folder


def _inside(folder: Path, root: Path) -> Path:
    if not folder.resolve().is_relative_to(root.resolve()):
        raise RunError(f"'{folder}' is outside the run store {root}/.")
    return folder


def list_runs(root: str | Path | None = None) -> list[Run]:
    """Runs under `root`, newest first (symbolic links are not followed)."""
    folder = run_root(root)
    if not folder.is_dir():
        return []
    runs = [
        Run(p)
        for p in folder.iterdir()
        if p.is_dir() and not p.is_symlink() and Run(p).real_file(files.STATUS) is not None
    ]
    return sorted(runs, key=lambda r: r.status.get("created", 0), reverse=True)


def create_run(root: str | Path | None = None, name: str | None = None) -> Path:
    """A new, empty run folder in state `queued`."""
    folder = run_root(root)
    folder.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(name)
    path, suffix = folder / run_id, 1
    while True:  # mkdir claims the name: two sessions in the same second get two folders
        try:
            path.mkdir()
            break
        except FileExistsError:
            suffix += 1
            path = folder / f"{run_id}-{suffix}"
    files.write_json(path / files.STATUS, {"state": "queued", "created": _now(), "name": name})
    return path


def delete_run(run: str | Path, root: str | Path | None = None) -> None:
    """Remove a run and everything in it, its copy of the uploaded data included."""
    loaded = load_run(run, root)
    if loaded.status.get("state") == "running" and loaded.state == "running":
        raise RunError(f"Run '{loaded.run_id}' is still training; cancel it first.")
    shutil.rmtree(loaded.path)


class RunWriter:
    """The training process's handle on its run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._status = files.read_json(self.path / files.STATUS) or {"created": _now()}
        self._lock = threading.Lock()
        self._beating = threading.Event()

    def set_status(self, state: str, **fields) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        with self._lock:
            self._status.update(fields, state=state, heartbeat=_now())
            if state == "running":
                pid = os.getpid()
                started = process_start_time(pid)
                self._status.update(pid=pid, host=socket.gethostname(), pid_started=started)
            if state in FINISHED:
                self._status["finished"] = _now()
            files.write_json(self.path / files.STATUS, self._status)

    def start_heartbeat(self) -> None:
        """Refresh the heartbeat from a thread, so long steps do not look like a dead process."""

        def beat() -> None:
            while not self._beating.wait(HEARTBEAT_SECONDS):
                with self._lock:
                    self._status["heartbeat"] = _now()
                    files.write_json(self.path / files.STATUS, self._status)

        threading.Thread(target=beat, daemon=True, name="heartbeat").start()

    def stop_heartbeat(self) -> None:
        self._beating.set()

    def write_config(self, config: dict) -> None:
        files.write_json(self.path / files.CONFIG, config)

    def write_final_metrics(self, metrics: dict) -> None:
        files.write_json(self.path / files.FINAL_METRICS, metrics)

    def log_event(self, event: dict) -> None:
        line = json.dumps({"time": _now(), **event}, default=str)
        with open(self.path / files.EVENTS, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def save_model(self, save) -> None:
        """`save(folder)` writes into a temporary folder that is renamed to model/ when whole."""
        temporary = self.path / f"{files.MODEL}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        save(temporary)
        shutil.rmtree(self.path / files.MODEL, ignore_errors=True)
        os.replace(temporary, self.path / files.MODEL)

    def write_text(self, name: str, text: str) -> None:
        (self.path / name).write_text(text, encoding="utf-8")
