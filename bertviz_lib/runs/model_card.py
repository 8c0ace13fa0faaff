"""The README.md of a run: what was trained on what, and how well, for people reading the folder."""

from __future__ import annotations

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import PreparedData


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def model_card(run_id: str, config: TrainConfig, prepared: PreparedData, result) -> str:
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
    for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "roc_auc", "log_loss", "ece"):
        if key in metrics:
            lines.append(f"- {key}: {_score(metrics[key])}")
    lines += [
        "",
        "## Use",
        "```python",
        "from transformers import pipeline",
        f'classifier = pipeline("text-classification", model="models/{run_id}/model")',
        "```",
        "",
    ]
    return "\n".join(lines)
