"""Settings of a run, as dataclasses whose fields carry their own help text.

The command line and the Train page are both generated from these fields, so a setting is
described once and means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

PROBLEM_TYPES = ("single_label", "binary", "multi_label")  # the three heads a run can have
PROBLEM_TYPE_CHOICES = ("auto", *PROBLEM_TYPES)  # auto: decided from the data's label cells
LABEL_DELIMITER = ";"  # between several labels in one cell, in uploads and in predictions.csv
IG_TOLERANCE = 0.01  # Integrated Gradients refines its path until its summed |error| is below this
BEST_METRICS = ("auto", "accuracy", "macro_f1", "micro_f1", "roc_auc", "log_loss")
LOWER_IS_BETTER = ("log_loss",)
DEVICES = ("auto", "cuda", "mps", "cpu")

# What one visitor of the shared app may ask for, so that no request can take the server down or
# keep the queue busy for days; TrainConfig.problems() and the widgets both read these.
MAX_EPOCHS = 50
MAX_BATCH_SIZE = 512
MAX_LENGTH = 512  # BERT-family position embeddings; a model with fewer is checked when loaded
LEARNING_RATE_RANGE = (1e-7, 0.1)
MAX_SEED = 2**32 - 1  # numpy's seeds
MAX_LABELS = 1000  # distinct labels a data set may have (the confusion matrix alone is n x n)
CONFUSION_TOP_CLASSES = 50  # above this, Metrics draws the largest classes and sums the rest
LISTED_HUB_MODELS = ("bert-base-uncased", "distilbert-base-uncased", "prajjwal1/bert-tiny")
PREDICT_MAX_ROWS = 10_000  # rows of an uploaded file that Predict classifies
PREDICT_BATCH_ROWS = 256  # rows between two progress updates (and chances to stop) on Predict
MAX_QUEUED_PER_SESSION = 3  # runs one browser session may have waiting in the training queue
MAX_TYPED_TEXT_CHARS = 10_000  # a text typed on Predict, Explain or Learn (training cuts there too)
MAX_NAME_CHARS = 100  # a run name or a model folder typed on Train
MAX_SETTING_CHARS = 24  # a number typed into a settings box
MAX_DELIMITER_CHARS = 5


def _setting(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class DataConfig:
    """Where the examples come from and how they are read."""

    text_column: str | None = _setting(None, "Column holding the text (guessed when empty).")
    label_column: str | None = _setting(None, "Column holding the label (guessed when empty).")
    label_delimiter: str = _setting(
        LABEL_DELIMITER, "Separator between several labels in one cell."
    )
    validation_fraction: float = _setting(
        0.2, "Share of rows held out for validation when no validation file is given."
    )
    max_rows: int | None = _setting(
        None, "Train on a seeded random sample of at most this many rows (empty: all rows)."
    )


@dataclass
class TrainConfig:
    """How the model is fine-tuned. Defaults suit a few hundred to a few thousand short texts."""

    model: str = _setting(
        "bundled", "'bundled' (all-MiniLM-L6-v2, offline), a Hugging Face Hub id or a folder."
    )
    problem_type: str = _setting(
        "auto",
        "single_label (softmax), binary (one sigmoid output), multi_label (a sigmoid per label), "
        "or auto: multi_label when rows hold several labels, else single_label.",
        choices=PROBLEM_TYPE_CHOICES,
    )
    max_length: int = _setting(
        128, "Tokens per text, [CLS] and [SEP] included; longer is cut.", minimum=8,
        maximum=MAX_LENGTH,
    )  # fmt: skip
    epochs: int = _setting(4, "Passes over the training data.", minimum=1, maximum=MAX_EPOCHS)
    batch_size: int = _setting(
        16, "Texts per optimisation step.", minimum=1, maximum=MAX_BATCH_SIZE
    )
    learning_rate: float = _setting(
        1e-4, "Peak learning rate of AdamW.", minimum=LEARNING_RATE_RANGE[0],
        maximum=LEARNING_RATE_RANGE[1],
    )  # fmt: skip
    warmup_ratio: float = _setting(
        0.1, "Share of the steps over which the rate climbs to its peak, from peak/N in N steps."
    )
    weight_decay: float = _setting(0.01, "AdamW weight decay (not applied to biases and norms).")
    dropout: float | None = _setting(
        None, "Dropout of the encoder and head (empty: the pre-trained model's own, usually 0.1)."
    )
    freeze_layers: int = _setting(
        0, "Freeze the embeddings and the first N encoder layers (0: train everything).",
        minimum=0,
    )  # fmt: skip
    head_only: bool = _setting(False, "Train only the classification head on a frozen encoder.")
    class_weights: str = _setting(
        "off",
        "'auto' weighs the loss so that rare classes count as much as common ones.",
        choices=("off", "auto"),
    )
    threshold: float = _setting(
        0.5, "Probability above which a label is predicted (sigmoid heads)."
    )
    metric_for_best: str = _setting(
        "auto",
        "Validation metric that picks the kept checkpoint (auto: accuracy, or micro-F1 for "
        "multi-label).",
        choices=BEST_METRICS,
    )
    patience: int = _setting(
        0, "Stop after this many evaluations without improvement (0: never stop early).",
        minimum=0, maximum=MAX_EPOCHS,
    )  # fmt: skip
    max_grad_norm: float = _setting(1.0, "Gradients are clipped to this norm (0: no clipping).")
    seed: int = _setting(
        42, "Seed for the split, the shuffling and the head's initial weights.", minimum=0,
        maximum=MAX_SEED,
    )  # fmt: skip
    device: str = _setting(
        "auto", "auto (cuda, then mps, then cpu), or one of them.", choices=DEVICES
    )
    cuda_graphs: bool = _setting(
        True,
        "On one CUDA GPU, replay each training step from a captured CUDA graph (batches "
        "padded to a few fixed shapes); eager steps if capture fails. Ignored on a CPU, MPS "
        "or several GPUs.",
    )
    baseline: bool = _setting(
        True,
        "Also fit TF-IDF (word 1-2-grams) + logistic regression on the same training rows and "
        "score it on the same validation rows (seconds): a simple model to compare against.",
    )

    fast_paths: bool = _setting(
        True,
        "Train through this project's exact shortcuts inside transformers ([CLS]-only last "
        "layer, cheaper CPU dropout, sparse embedding gradient; see model/patches). Off: a "
        "plain transformers model throughout.",
    )

    def problems(self) -> list[str]:
        """Settings that cannot work, or that would let one run hold a shared server or its queue
        for days (epochs, batch size, max_length), as sentences (empty when all is well)."""
        checks = [*_bounds(self)]
        checks += [
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)."),
            (self.weight_decay >= 0, "weight_decay must not be negative."),
            (self.dropout is None or 0 <= self.dropout < 1, "dropout must be in [0, 1)."),
            (0 < self.threshold < 1, "threshold must be between 0 and 1."),
            (self.max_grad_norm >= 0, "max_grad_norm must not be negative."),
        ]
        for name in ("problem_type", "class_weights", "metric_for_best", "device"):
            choices = next(f for f in fields(self) if f.name == name).metadata["choices"]
            value = getattr(self, name)
            checks.append((value in choices, f"{name} must be one of {', '.join(choices)}."))
        return [message for ok, message in checks if not ok]


def _bounds(config) -> list[tuple[bool, str]]:
    """(within bounds, sentence) for every field that declares a minimum or a maximum."""
    checks = []
    for item in fields(config):
        value = getattr(config, item.name)
        lowest, highest = item.metadata.get("minimum"), item.metadata.get("maximum")
        if value is None or isinstance(value, bool):
            continue
        if lowest is not None:
            checks.append((value >= lowest, f"{item.name} must be at least {_shown(lowest)}."))
        if highest is not None:
            checks.append((value <= highest, f"{item.name} must be at most {_shown(highest)}."))
    return checks


def _shown(number: float) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def bounds(config_class: type, name: str) -> tuple[float | None, float | None]:
    """(minimum, maximum) of a setting, for the widget that edits it (None: unbounded)."""
    item = next(f for f in fields(config_class) if f.name == name)
    return item.metadata.get("minimum"), item.metadata.get("maximum")


def help_text(config_class: type, name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(config_class) if f.name == name)
