"""The README.md of a run: what was trained on what, and how well, for people reading the folder."""

from __future__ import annotations

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import PreparedData
from bertviz_lib.metrics import HEADLINE_METRICS


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def model_card(
    run_id: str,
    config: TrainConfig,
    prepared: PreparedData,
    result,
    temperatures: list[float] | None = None,
    baseline: dict | None = None,
) -> str:
    """The card; `temperatures` (folded into the saved model) and the `baseline` file's content
    add their lines when given."""
    metrics = result.best.metrics
    train, validation = prepared.train, prepared.validation
    lines = [
        f"# {run_id}",
        "",
        f"A `{config.model}` encoder fine-tuned for {train.problem_type.replace('_', '-')} text "
        f"classification with BERTViz Studio.",
        "",
        "## Data",
        f"- training rows: {len(train)}; validation rows: {len(validation)}",
        f"- text column: `{prepared.text_column}`; label column: `{prepared.label_column}`",
        f"- labels ({len(train.label_names)}): " + ", ".join(train.label_names),
        "",
        "## Settings",
        *[f"- {name}: {value}" for name, value in vars(config).items()],
        "",
        "## Validation metrics of the kept checkpoint",
        f"- kept: epoch {result.best.epoch} (step {result.best.step}), stopped: {result.stopped}",
    ]
    for key in HEADLINE_METRICS:
        if key in metrics:
            lines.append(f"- {key}: {_score(metrics[key])}")
    if baseline and "metrics" in baseline:
        scores = baseline["metrics"]
        shown = [f"{key} {_score(scores[key])}" for key in ("accuracy", "macro_f1", "micro_f1")
                 if scores.get(key) is not None]  # fmt: skip
        lines.append(f"- baseline ({baseline['model']}): " + ", ".join(shown))
    lines += [
        "",
        "## Use",
        "```python",
        "from transformers import pipeline",
        f'classifier = pipeline("text-classification", model="models/{run_id}/model")',
        "```",
    ]
    if temperatures and any(t != 1.0 for t in temperatures):
        shown = ", ".join(f"{t:.3f}" for t in temperatures)
        lines.append(
            f"The probabilities are calibrated: the classifier's weights and bias are divided by "
            f"the temperature fitted on the validation rows ({shown}; `bertviz_temperature` in "
            "config.json). Multiply the logits by it for the model as trained."
        )
    lines.append("")
    return "\n".join(lines)
