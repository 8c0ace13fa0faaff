"""Calibrated probabilities: temperatures fitted on the validation logits (temperature scaling,
Guo et al., 2017, "On Calibration of Modern Neural Networks", ICML).

Why: a fine-tuned network is often overconfident: among the texts it calls 95% sure, fewer than
95% are right. Dividing its logits by one number T > 0, fitted to minimise the validation log loss,
repairs most of that: T > 1 softens, T < 1 sharpens, and the argmax (so the accuracy) does not
move. One parameter cannot learn much of the validation set, and Guo et al. found it as good as
richer methods on most data sets.

- single_label: one T for the softmax. binary: one T for its one logit. multi_label: one T per
  label, each sigmoid its own; a label with fewer than MIN_CLASS_ROWS positive or negative rows
  among the fitting rows takes the T fitted on all labels together (two positives cannot fix a
  temperature).
- Rows the model gets all right (each gold logit above every other; for a sigmoid, each logit on
  its label's side of 0) fix no temperature either: their log loss keeps falling as T shrinks, so
  the search would end on its lower bound, ten times sharper, on the word of rows that show no
  mistake to learn from (a near-perfect model on a small validation half). They keep T = 1.
- Nothing reported is measured on the rows its temperature was fitted on: the validation rows are
  cut in two halves at random (seeded); the T fitted on each half scores the other (cross-fitting),
  so every "after" figure is held out. The T the run keeps is fitted on all validation rows.
- The kept T is folded into the saved model's output layer (its weights and bias divided by T),
  so Predict, Explain, the command line, the exported zip and a plain `transformers.pipeline()`
  all give the calibrated probabilities with no code of their own. The model's `config.json`
  carries T as `bertviz_temperature` (a list: one value for a softmax head, one per output for
  sigmoid heads); `unfold` (Predictor(calibrated=False), the uncalibrated zip) multiplies it back.

The report, `calibration.json`: {"temperatures", "method", "rows", "before", "after", "halves"},
"before" and "after" each {"ece", "log_loss", "accuracy", "calibration"} over all validation
rows (after: each row by the other half's T), and per half the same figures with the T that
scored it. Too few rows (fewer than MIN_VALIDATION_ROWS) keep T = 1 and say why in "skipped";
when every validation row is `separated`, "unchanged" says why the kept T is 1.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from bertviz_lib.metrics import classification_metrics
from bertviz_lib.model import heads
from bertviz_lib.runs import files

TEMPERATURE_RANGE = (0.1, 10.0)  # the temperatures searched: from 10x sharper to 10x softer
MIN_CLASS_ROWS = 5  # positive and negative rows a label needs for a temperature of its own
MIN_VALIDATION_ROWS = 20  # with fewer validation rows no temperature is fitted (T = 1)
CONFIG_KEY = "bertviz_temperature"  # where the saved model's config.json carries T
REPORTED = ("ece", "log_loss", "accuracy", "calibration")  # the figures kept before and after
UNCHANGED = (
    "The model decides every validation row right, so these rows show no mistake to learn a "
    "temperature from (their log loss keeps falling as T shrinks); T stays 1 and the "
    "probabilities are those of the model as trained."
)  # the report's "unchanged", said when every validation row is `separated`


def probabilities(problem_type: str, logits: np.ndarray, temperatures: Sequence[float]):
    """Per-class probabilities of `logits` divided by `temperatures` (one value, or one per
    output), as `heads.probabilities` gives them: a binary head widened to two columns."""
    scaled = np.asarray(logits, dtype=np.float64) / np.asarray(temperatures, dtype=np.float64)
    return heads.probabilities(problem_type, torch.from_numpy(scaled)).double().numpy()


SLIGHT = 0.05  # a temperature within this of 1 moves no probability by more than a few points


def effect(temperature: float) -> str:
    """What dividing the logits by `temperature` does to the probabilities, in words."""
    if abs(temperature - 1.0) < 5e-4:  # shown as 1.000: nothing to speak of
        return "leaves the probabilities as they are"
    direction = "softens" if temperature > 1 else "sharpens"
    return f"{'barely ' if abs(temperature - 1.0) < SLIGHT else ''}{direction} the probabilities"


def verdict(report: dict) -> str:
    """Whether the temperature helped on the rows it never saw, in one sentence: the figure to
    trust before switching the calibrated probabilities on or off."""
    before, after = report["before"], report["after"]
    ece = f"ECE {before['ece']:.3f} → {after['ece']:.3f}"
    loss = f"log loss {before['log_loss']:.3f} → {after['log_loss']:.3f}"
    lower_ece, lower_loss = after["ece"] <= before["ece"], after["log_loss"] <= before["log_loss"]
    said = "On validation rows it was not fitted on, the temperature"
    if after["ece"] == before["ece"] and after["log_loss"] == before["log_loss"]:
        return f"{said} changed nothing ({ece}, {loss})."
    if lower_ece and lower_loss:
        return f"On validation rows it was not fitted on, the temperature helped ({ece}, {loss})."
    if lower_ece or lower_loss:
        return (
            f"On validation rows it was not fitted on, the temperature helped one measure and not "
            f"the other ({ece}, {loss}): a small change either way."
        )
    return (
        f"On validation rows it was not fitted on, the temperature did not help ({ece}, {loss}): "
        "the model was already about as calibrated as one temperature can make it on this many "
        "rows, and calibrated and raw probabilities differ little. Either switch setting is fine."
    )


def temperature_table(report: dict, label_names: Sequence[str]) -> pd.DataFrame:
    """Each output's kept temperature, named by its label ("output N" when the names do not
    match the outputs)."""
    temperatures = report["temperatures"]
    names = list(label_names)
    if len(names) != len(temperatures):
        names = [f"output {i + 1}" for i in range(len(temperatures))]
    return pd.DataFrame({"label": names, "temperature": temperatures})


def figures_table(report: dict) -> pd.DataFrame:
    """ECE and log loss before and after: all validation rows (after: each half scored by the
    other half's temperature), then each half."""

    def row(name: str, before: dict, after: dict) -> dict:
        return {
            "rows": name,
            "ECE before": before["ece"],
            "ECE after": after["ece"],
            "log loss before": before["log_loss"],
            "log loss after": after["log_loss"],
        }

    halves = [
        row(f"half {i + 1} ({half['rows']} rows)", half["before"], half["after"])
        for i, half in enumerate(report["halves"])
    ]
    everything = row("all (after: each half by the other's temperature)",
                     report["before"], report["after"])  # fmt: skip
    return pd.DataFrame([everything, *halves])


def log_loss(problem_type: str, logits: np.ndarray, truth: np.ndarray, temperature) -> float:
    """Mean negative log-likelihood of the gold labels under `logits / temperature`: softmax
    cross-entropy, or binary cross-entropy over every (row, output) cell of sigmoid heads."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    if problem_type == "single_label":
        return float(-log_softmax(z, axis=1)[np.arange(len(z)), truth].mean())
    y = np.asarray(truth, dtype=np.float64).reshape(z.shape)
    return float((np.logaddexp(0.0, z) - y * z).mean())


def separated(problem_type: str, logits: np.ndarray, truth: np.ndarray) -> bool:
    """Whether every row is decided right with room to spare: then the log loss has no minimum
    but falls as T goes to 0, and no temperature can be fitted."""
    z = np.asarray(logits, dtype=np.float64)
    if problem_type == "single_label":
        gold = z[np.arange(len(z)), truth]
        others = np.where(np.eye(z.shape[1], dtype=bool)[truth], -np.inf, z)
        return bool(np.all(gold > others.max(axis=1)))
    y = np.asarray(truth, dtype=np.float64).reshape(z.shape)
    return bool(np.all(np.where(y > 0.5, z > 0, z < 0)))


def _best_temperature(problem_type: str, logits: np.ndarray, truth: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE of the lowest log loss, searched over log T (1 when the rows
    are `separated`)."""
    if separated(problem_type, logits, truth):
        return 1.0
    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: log_loss(problem_type, logits, truth, np.exp(log_t)),
        bounds=(low, high),
        method="bounded",
    )
    return float(np.exp(found.x))


def fit_temperatures(problem_type: str, logits: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """One temperature (single_label, binary) or one per label (multi_label), fitted on these
    rows. `truth`: class ids, or the 0/1 matrix for multi_label."""
    logits = np.asarray(logits, dtype=np.float64)
    if problem_type != "multi_label":
        return np.array([_best_temperature(problem_type, logits, np.asarray(truth))])
    truth = np.asarray(truth, dtype=np.float64)
    shared = _best_temperature(problem_type, logits, truth)
    temperatures = np.full(logits.shape[1], shared)
    positives = truth.sum(axis=0)
    for label in range(logits.shape[1]):
        if min(positives[label], len(truth) - positives[label]) >= MIN_CLASS_ROWS:
            temperatures[label] = _best_temperature(
                problem_type, logits[:, [label]], truth[:, [label]]
            )
    return temperatures


def _figures(problem_type, logits, truth, temperatures, names, threshold) -> dict:
    scores = classification_metrics(
        truth, probabilities(problem_type, logits, temperatures), names, problem_type, threshold
    )
    return {key: scores.get(key) for key in REPORTED}


def calibrate(
    problem_type: str,
    logits: np.ndarray,
    truth: np.ndarray,
    label_names: Sequence[str],
    threshold: float = 0.5,
    seed: int = 0,
) -> dict:
    """Fit the temperature(s) a run keeps and measure, held out, what they change (see the module
    docstring for the report's keys)."""
    logits = np.asarray(logits, dtype=np.float64)
    truth = np.asarray(truth)
    outputs = logits.shape[1] if problem_type == "multi_label" else 1
    method = "one temperature per label" if problem_type == "multi_label" else "one temperature"
    rows = len(logits)
    report = {"method": f"Temperature scaling ({method}), Guo et al. 2017", "rows": rows}
    if rows < MIN_VALIDATION_ROWS:
        return {**report, "temperatures": [1.0] * outputs,
                "skipped": f"{rows} validation rows; at least {MIN_VALIDATION_ROWS} are needed "
                "to fit a temperature on one half and measure it on the other."}  # fmt: skip

    def figures(index, temperatures) -> dict:
        return _figures(
            problem_type, logits[index], truth[index], temperatures, label_names, threshold
        )

    order = np.random.default_rng(seed).permutation(rows)
    halves = [np.sort(order[: rows // 2]), np.sort(order[rows // 2 :])]
    fitted = [fit_temperatures(problem_type, logits[h], truth[h]) for h in halves]
    held_out = np.zeros((rows, outputs))
    report_halves = []
    for index, scored_by in ((halves[0], fitted[1]), (halves[1], fitted[0])):
        held_out[index] = scored_by
        report_halves.append({"rows": len(index), "temperatures": scored_by.tolist(),
                              "before": _brief(figures(index, [1.0])),
                              "after": _brief(figures(index, scored_by))})  # fmt: skip
    everything = np.arange(rows)
    after_probabilities = probabilities(problem_type, logits / held_out, [1.0])
    after = classification_metrics(truth, after_probabilities, label_names, problem_type, threshold)
    if separated(problem_type, logits, truth):
        report["unchanged"] = UNCHANGED
    return {
        **report,
        "temperatures": fit_temperatures(problem_type, logits, truth).tolist(),
        "before": figures(everything, [1.0]),
        "after": {key: after.get(key) for key in REPORTED},
        "halves": report_halves,
    }


def _brief(figures: dict) -> dict:
    return {key: value for key, value in figures.items() if key != "calibration"}


def write(folder: str | Path, report: dict) -> None:
    files.write_json(Path(folder) / files.CALIBRATION, report)


def read(folder: str | Path) -> dict:
    """The run's calibration.json ({} when it has none)."""
    return files.read_json(Path(folder) / files.CALIBRATION)


def _scale_output_layer(model: torch.nn.Module, factors: Sequence[float]) -> None:
    layer = heads.output_layer(model)
    scale = torch.as_tensor(list(factors), dtype=layer.weight.dtype, device=layer.weight.device)
    if scale.numel() not in (1, layer.out_features):
        raise ValueError(
            f"{scale.numel()} temperatures for an output layer of {layer.out_features} outputs."
        )
    with torch.no_grad():
        layer.weight.mul_(scale[:, None])
        if layer.bias is not None:
            layer.bias.mul_(scale)


def fold(model: torch.nn.Module, temperatures: Sequence[float]) -> None:
    """Divide the output layer by the temperatures, so its logits are the calibrated ones, and
    record them in the model's config (saved as config.json's `bertviz_temperature`)."""
    _scale_output_layer(model, [1.0 / t for t in temperatures])
    setattr(model.config, CONFIG_KEY, [float(t) for t in temperatures])


def temperatures_of(config) -> list[float]:
    """The temperatures folded into a saved model (1 when none were)."""
    return [float(t) for t in (getattr(config, CONFIG_KEY, None) or [1.0])]


def unfold(model: torch.nn.Module) -> None:
    """Multiply the folded temperatures back: the logits of the model as trained."""
    temperatures = temperatures_of(model.config)
    _scale_output_layer(model, temperatures)
    setattr(model.config, CONFIG_KEY, [1.0] * len(temperatures))


def model_zip(model_dir: str | Path, calibrated: bool = True) -> bytes:
    """The saved model as a zip for `transformers.pipeline()`: as saved (calibrated), or with the
    temperatures multiplied back out (the probabilities of the model as trained)."""
    from bertviz_lib.report.exports import zip_folder

    model_dir = Path(model_dir)
    if calibrated or model_dir.is_symlink():
        return zip_folder(model_dir)  # which refuses a linked folder
    from transformers import AutoModelForSequenceClassification

    def links(directory: str, names: list[str]) -> list[str]:
        """Left out of the copy, as zip_folder leaves them out: a link could point anywhere, and
        save_pretrained would write through one."""
        return [name for name in names if (Path(directory) / name).is_symlink()]

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / model_dir.name
        shutil.copytree(model_dir, folder, ignore=links)
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False
        )
        unfold(model)
        model.save_pretrained(folder)
        return zip_folder(folder)
