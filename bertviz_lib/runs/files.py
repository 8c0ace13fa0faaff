"""The names of the files in a run folder, and the one way a JSON file is written into it.

Readers poll these files while the training process writes them, so a JSON file is written under
a temporary name and renamed into place: a reader sees the old file or the new one, never half of
one. The folder's layout is described in DESIGN.md and the README's run-folder table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATUS = "status.json"  # state, pid, heartbeat, error text
CONFIG = "config.json"  # settings, data summary, label names, problem type, versions
EVENTS = "metrics.jsonl"  # one JSON event per line, appended as it happens
FINAL_METRICS = "final_metrics.json"  # validation metrics of the kept checkpoint
PREDICTIONS = "predictions.csv"  # its validation predictions (runs/predictions.py owns the columns)
TRAINING_DYNAMICS = "training_dynamics.csv"  # the data map per training row (insight/cartography)
BASELINE_METRICS = "baseline_metrics.json"  # TF-IDF + logistic regression on the same split
CALIBRATION = "calibration.json"  # the fitted temperature(s), ECE and log loss before and after
MODEL = "model"  # save_pretrained output and tokenizer, renamed into place when whole
MODEL_CARD = "README.md"
LAUNCH = "launch.json"  # what the app queued: data files and settings (runs/launcher.py)
DATA = "data"  # the uploads of a run started from the app
TRAIN_LOG = "train.log"  # the training process's output, for a run started from the app


def write_json(path: str | Path, payload: dict) -> None:
    """Write `payload` to a temporary name beside `path`, then rename it over `path`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: str | Path) -> dict:
    """The object in `path`, or {} when the file is missing, not JSON, or a symbolic link (which
    could make a run folder show any file on the machine)."""
    if Path(path).is_symlink():
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
