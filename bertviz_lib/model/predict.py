"""Per-class probabilities for many texts from a saved run (or any compatible model folder)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bertviz_lib.devices import autocast, resolve_device
from bertviz_lib.insight import calibration
from bertviz_lib.metrics import prediction_ids
from bertviz_lib.model import heads
from bertviz_lib.model.patches.cls_only import cls_only_in_eval
from bertviz_lib.runs import Run, RunError
from bertviz_lib.train import batching

Progress = Callable[[int, int], None]


def predict_probabilities(
    model,
    ids: list[list[int]],
    pad_id: int,
    problem_type: str,
    device: torch.device,
    batch_size: int = 64,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """Probabilities in the original row order; batches are sorted by length for speed. None when
    `should_stop()` turns true between two batches (a training cancelled while it evaluates)."""
    logits = predict_logits(model, ids, pad_id, device, batch_size, on_progress, should_stop)
    if logits is None:
        return None
    return heads.probabilities(problem_type, torch.from_numpy(logits)).numpy()


@torch.no_grad()
def predict_logits(
    model,
    ids: list[list[int]],
    pad_id: int,
    device: torch.device,
    batch_size: int = 64,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray | None:
    """Logits (float32) in the original row order: what probabilities and calibration start from.
    None when `should_stop()` turns true between two batches."""
    was_training = model.training
    model.eval()
    lengths = [len(x) for x in ids]
    result = None
    done = 0
    batches = batching.inference_batches(lengths, batch_size)
    multiple = batching.padding_multiple(device)
    with cls_only_in_eval(model):  # only the logits are read
        for rows, batch in batching.iterate(ids, batches, pad_id, multiple):
            if should_stop is not None and should_stop():
                model.train(was_training)
                return None
            with autocast(device):
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            chunk = logits.float().cpu().numpy()
            if result is None:
                result = np.zeros((len(ids), chunk.shape[1]), dtype=np.float32)
            result[rows] = chunk
            done += len(rows)
            if on_progress:
                on_progress(done, len(ids))
    model.train(was_training)
    if result is None:  # no texts
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    return result


@dataclass
class Prediction:
    text: str
    labels: list[str]
    probabilities: dict[str, float]


class Predictor:
    """A loaded model with what it needs to turn texts into probabilities.

    The app keeps one per run and calibration choice for every session, so nothing may change
    `model` while it serves: computations that do (forward hooks, a switch of the attention
    implementation) borrow `private_model()` instead.

    A run's saved model has its calibrated temperature folded into its output layer
    (insight/calibration.py), so by default its probabilities are the calibrated ones;
    `calibrated=False` multiplies the temperature back out: the model as trained.
    """

    def __init__(self, model_dir: str | Path, device: str = "auto", calibrated: bool = True):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise RunError(f"'{model_dir}' holds no saved model (config.json is missing).")
        self.device = resolve_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, use_safetensors=True, trust_remote_code=False
        ).to(self.device)
        self.model.eval()
        config = self.model.config
        self.temperatures = calibration.temperatures_of(config)  # folded into the saved weights
        self.calibrated = calibrated
        if not calibrated:
            calibration.unfold(self.model)
        self.problem_type = getattr(config, "bertviz_problem_type", None) or (
            "multi_label" if config.problem_type == "multi_label_classification" else "single_label"
        )
        names = getattr(config, "bertviz_label_names", None)
        self.label_names = list(names or [config.id2label[i] for i in range(config.num_labels)])
        self.threshold = float(getattr(config, "bertviz_threshold", 0.5))
        self.max_length = int(getattr(config, "bertviz_max_length", 128))
        self._private: tuple | None = None
        self._private_lock = threading.Lock()

    @contextmanager
    def private_model(self) -> Iterator[tuple]:
        """(model, tokenizer): copies of this predictor's own, for a computation that changes the
        model while it runs. A hook on the shared model would reach the predictions other
        sessions run on it at that moment; the copy is made once, and lent to one computation at
        a time."""
        with self._private_lock:
            if self._private is None:
                self._private = (copy.deepcopy(self.model), copy.deepcopy(self.tokenizer))
            yield self._private

    @classmethod
    def from_run(cls, run: Run, device: str = "auto", calibrated: bool = True) -> Predictor:
        if not run.loadable:
            raise RunError(f"Run '{run.run_id}' has no loadable model (its state is {run.state}).")
        return cls(run.model_dir, device, calibrated)

    def predict_proba(
        self, texts: Sequence[str], batch_size: int = 64, on_progress: Progress | None = None
    ) -> np.ndarray:
        """(len(texts), len(label_names)) probabilities; a binary head gives both columns."""
        if not texts:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        ids = batching.tokenize(self.tokenizer, texts, self.max_length)
        pad_id = self.tokenizer.pad_token_id or 0
        return predict_probabilities(
            self.model, ids, pad_id, self.problem_type, self.device, batch_size, on_progress
        )

    def predict_in_batches(
        self, texts: Sequence[str], batch_rows: int
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(rows done, their probabilities) one slice of `batch_rows` texts at a time, tokenized
        as it comes: a page shows progress between slices, and whoever stops reading stops the
        work (nothing past the slice being read is computed)."""
        for start in range(0, len(texts), batch_rows):
            chunk = texts[start : start + batch_rows]
            yield start + len(chunk), self.predict_proba(chunk)

    def predict_labels(self, probabilities: np.ndarray) -> list[list[str]]:
        """Decided labels per row: the argmax, or every label over the threshold (multi-label)."""
        decided = prediction_ids(probabilities, self.problem_type, self.threshold)
        names = np.array(self.label_names)
        if decided.ndim == 2:
            return [[str(x) for x in names[row.astype(bool)]] for row in decided]
        return [[str(names[i])] for i in decided]

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
        probabilities = self.predict_proba(texts, batch_size)
        return [
            Prediction(text, labels, dict(zip(self.label_names, map(float, row), strict=True)))
            for text, labels, row in zip(
                texts, self.predict_labels(probabilities), probabilities, strict=True
            )
        ]
