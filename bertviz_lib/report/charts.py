"""Plotly figures for the Data, Train, Metrics and Predict pages, one public function per figure.

Every function takes plain data (dicts, lists, arrays, DataFrames) that the other library modules
already produce (`metrics.classification_metrics`, the events of `train.fit`, `Run.predictions()`)
and returns a `plotly.graph_objects.Figure`; nothing here reads files or imports streamlit, so the
figures can be tested and reused by the CLI or a notebook. Plotly reads a little markup in every
string it draws (<b>, <i>, <br>, <a href>), so a class named "<b>good</b>" would be drawn bold:
every label name, token and title from a user passes through `_shown` (HTML-escaped, which plotly
decodes back to the literal characters) before it reaches a figure. Each class keeps the same
colour on every chart, given by `class_colours`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from bertviz_lib.data.wording import excerpt

PALETTE = tuple(
    dict.fromkeys(
        px.colors.qualitative.Plotly + px.colors.qualitative.D3 + px.colors.qualitative.Alphabet
    )
)
FALLBACK_COLOUR = "#888888"
TEMPLATE = "plotly_white"
HEIGHT = 400
MARGIN = {"l": 60, "r": 20, "t": 60, "b": 50}
EMA_WEIGHT = 0.6  # the loss curve's smoothing: TensorBoard's default weight for its moving average
RAW_OPACITY = 0.35  # the raw loss points, drawn faint under their smoothed line
HOVER_CHARS = 160  # characters of a text shown when hovering over its point on the data map
WEBGL_FROM = 5000  # points from which the data map draws with WebGL, which stays fast


def _shown(text) -> str:
    """User text as plotly should draw it: literally."""
    return html.escape(str(text), quote=False)


def _labels(names: Sequence[str]) -> list[str]:
    return [_shown(name) for name in names]


def _positions(tokens: Sequence[str]) -> list[str]:
    """Axis categories for tokens: their position first, so a repeated word stays apart."""
    return [f"{i}:{_shown(t)}" for i, t in enumerate(tokens)]


def class_colours(label_names: Sequence[str]) -> dict[str, str]:
    """One colour per class by position, so a run's classes look the same on every chart and page.

    The palette is fixed (plotly, then D3, then Alphabet: 46 colours) and wraps around beyond that.
    """
    return {str(name): PALETTE[i % len(PALETTE)] for i, name in enumerate(label_names)}


def label_distribution(
    counts: Mapping[str, int], colours: Mapping[str, str] | None = None
) -> go.Figure:
    """Examples per class, in the order given, so imbalance is visible before training."""
    names = [str(name) for name in counts]
    values = [int(v) for v in counts.values()]
    figure = go.Figure(
        go.Bar(
            x=_labels(names),
            y=values,
            text=values,
            textposition="auto",
            marker_color=_colours_for(names, colours),
            hovertemplate="%{x}: %{y} examples<extra></extra>",
        )
    )
    _style(figure, "Examples per class", "Class", "Examples")
    figure.update_xaxes(type="category")
    return figure


def token_lengths(lengths: Sequence[int], max_length: int) -> go.Figure:
    """Token counts with the model's limit marked, and how many texts lose their end to it."""
    values = [int(n) for n in lengths]
    truncated = sum(n > max_length for n in values)
    share = truncated / len(values) if values else 0.0
    figure = go.Figure(go.Histogram(x=values, name="texts", marker_color=PALETTE[0]))
    figure.add_vline(x=max_length, line_dash="dash", line_color="#444444")
    figure.add_annotation(
        text=f"{share:.1%} ({truncated} of {len(values)}) longer than {max_length} tokens: "
        "truncated",
        xref="paper", yref="paper", x=1, y=1.02, xanchor="right", yanchor="bottom",
        showarrow=False,
    )  # fmt: skip
    _style(figure, "Text length in tokens", "Tokens", "Texts")
    right_edge = 1.15 * max([max_length, *values])  # the limit line and every text in view
    figure.update_layout(showlegend=False, xaxis_range=[0, right_edge])
    return figure


def smoothed(values: Sequence[float | None], weight: float = EMA_WEIGHT) -> list[float | None]:
    """An exponential moving average, debiased as TensorBoard does: each point is
    weight x the previous average + (1 - weight) x the value, divided by 1 - weight^n so that
    the first points are not pulled towards 0. A missing value stays missing and is skipped."""
    average, seen, result = 0.0, 0, []
    for value in values:
        number = _finite(value)
        if number is None:
            result.append(None)
            continue
        average, seen = weight * average + (1 - weight) * number, seen + 1
        result.append(average / (1 - weight**seen))
    return result


def loss_curves(events: Sequence[dict]) -> go.Figure:
    """Training loss by step against validation loss by evaluation, to spot over-fitting.

    The logged training losses are each one batch's, so they jump from batch to batch: they are
    drawn faint, with their moving average (`smoothed`) over them, as TensorBoard and W&B do.
    """
    steps = _of_kind(events, "step")
    evaluations = _of_kind(events, "evaluation")
    losses = [_finite(e.get("loss")) for e in steps]
    figure = go.Figure(
        [
            go.Scatter(
                x=[e.get("step") for e in steps],
                y=losses,
                mode="lines",
                name="training loss",
                line={"color": PALETTE[0]},
                opacity=RAW_OPACITY,
            ),
            go.Scatter(
                x=[e.get("step") for e in evaluations],
                y=[_finite((e.get("metrics") or {}).get("log_loss")) for e in evaluations],
                mode="lines+markers",
                name="validation log loss",
                line={"color": PALETTE[1]},
            ),
            go.Scatter(
                x=[e.get("step") for e in steps],
                y=smoothed(losses),
                mode="lines",
                name=f"training loss, smoothed (EMA {EMA_WEIGHT:g})",
                line={"color": PALETTE[0], "width": 2.5},
            ),
        ]
    )
    _style(figure, "Loss", "Step", "Loss")
    return figure


def learning_rate_curve(events: Sequence[dict]) -> go.Figure:
    """The schedule actually used (warm-up, then decay), as logged at each step."""
    steps = _of_kind(events, "step")
    figure = go.Figure(
        go.Scatter(
            x=[e.get("step") for e in steps],
            y=[_finite(e.get("learning_rate")) for e in steps],
            mode="lines",
            name="learning rate",
        )
    )
    _style(figure, "Learning rate", "Step", "Learning rate")
    figure.update_yaxes(exponentformat="e")
    return figure


def epoch_metrics(
    events: Sequence[dict], names: Sequence[str] = ("accuracy", "macro_f1", "micro_f1")
) -> go.Figure:
    """Validation scores after each epoch; a metric the run lacks is left out, not drawn as 0."""
    evaluations = _of_kind(events, "evaluation")
    figure = go.Figure()
    for name in names:
        values = [_finite((e.get("metrics") or {}).get(name)) for e in evaluations]
        if any(v is not None for v in values):
            figure.add_trace(
                go.Scatter(
                    x=[e.get("epoch") for e in evaluations],
                    y=values,
                    mode="lines+markers",
                    name=name,
                )
            )
    _style(figure, "Validation scores by epoch", "Epoch", "Score")
    figure.update_yaxes(range=[0, 1.02])
    figure.update_xaxes(dtick=1)
    return figure


def top_classes(matrix: np.ndarray, names: Sequence[str], top: int) -> tuple[np.ndarray, list[str]]:
    """The `top` classes with the most true examples, largest first, and one more row and column
    that sum all the others: a matrix of hundreds of classes is unreadable, and drawing it costs
    the browser of everyone who opens Metrics."""
    support = matrix.sum(axis=1)
    order = sorted(range(len(names)), key=lambda i: (-support[i], i))
    kept, rest = order[:top], order[top:]
    groups = [[i] for i in kept] + [rest]
    reduced = np.array([[matrix[np.ix_(r, c)].sum() for c in groups] for r in groups])
    return reduced, [names[i] for i in kept] + [f"other ({len(rest)} classes)"]


def confusion_matrix(
    matrix: Sequence[Sequence[int]],
    label_names: Sequence[str],
    normalise: bool = False,
    top: int | None = None,
) -> go.Figure:
    """Where the model's mistakes go; row shares make rare classes as readable as common ones.
    With more than `top` classes, the largest are drawn and the rest summed (`top_classes`)."""
    names = [str(name) for name in label_names]
    counts = np.asarray(matrix, dtype=float)
    if counts.shape != (len(names), len(names)):
        raise ValueError(
            f"A confusion matrix for {len(names)} classes must be {len(names)} x {len(names)}; "
            f"got {counts.shape}."
        )
    if top is not None and len(names) > top:
        counts, names = top_classes(counts, names, top)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    z = shares if normalise else counts.astype(int)
    text = [[f"{v:.0%}" if normalise else str(int(v)) for v in row] for row in z]
    figure = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=_labels(names),
            y=_labels(names),
            text=text,
            texttemplate="%{text}",
            customdata=np.dstack([counts.astype(int), shares]).tolist(),
            hovertemplate=(
                "True: %{y}<br>Predicted: %{x}<br>Count: %{customdata[0]}"
                "<br>Share of true class: %{customdata[1]:.1%}<extra></extra>"
            ),
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalise else max(1, int(counts.max(initial=0))),
        )
    )
    title = "Confusion matrix (share of each true class)" if normalise else "Confusion matrix"
    _style(figure, title, "Predicted", "True")
    figure.update_xaxes(type="category", side="bottom")
    figure.update_yaxes(type="category", autorange="reversed")
    return figure


def roc_curves(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    label_names: Sequence[str],
    problem_type: str,
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """One-vs-rest ROC per class (the positive class only for binary), AUC in each legend entry.

    A class needs both positives and negatives in the validation split; others are listed as
    skipped rather than drawn as a misleading line.
    """
    figure = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dash", "color": "#999999"},
            name="chance",
        )
    )
    palette = colours if colours is not None else class_colours(label_names)
    skipped = 0
    for name, truth, score in _one_vs_rest(y_true, probabilities, label_names, problem_type):
        positives = int(truth.sum())
        if not 0 < positives < truth.size:
            skipped += 1
            _add_skipped(figure, name, "no positives" if positives == 0 else "no negatives")
            continue
        fpr, tpr, _ = roc_curve(truth, score)
        auc = roc_auc_score(truth, score)
        colour = palette.get(name, FALLBACK_COLOUR)
        figure.add_trace(_curve(fpr, tpr, f"{_shown(name)} (AUC {auc:.3f})", colour))
    _style(figure, _titled("ROC curves", skipped), "False positive rate", "True positive rate")
    _unit_square(figure)
    return figure


def pr_curves(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    label_names: Sequence[str],
    problem_type: str,
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """One-vs-rest precision-recall per class, average precision in each legend entry.

    PR curves tell more than ROC when a class is rare. As in `metrics`, a class needs at least one
    positive (precision is undefined otherwise); classes without any are listed as skipped.
    """
    figure = go.Figure()
    palette = colours if colours is not None else class_colours(label_names)
    skipped = 0
    for name, truth, score in _one_vs_rest(y_true, probabilities, label_names, problem_type):
        if truth.sum() == 0:
            skipped += 1
            _add_skipped(figure, name, "no positives")
            continue
        precision, recall, _ = precision_recall_curve(truth, score)
        ap = average_precision_score(truth, score)
        colour = palette.get(name, FALLBACK_COLOUR)
        figure.add_trace(_curve(recall, precision, f"{_shown(name)} (AP {ap:.3f})", colour))
    _style(figure, _titled("Precision-recall curves", skipped), "Recall", "Precision")
    _unit_square(figure)
    return figure


def reliability_diagram(
    calibration: Mapping | Sequence[dict], ece: float | None, title: str = "Reliability diagram"
) -> go.Figure:
    """Observed accuracy against stated confidence: bars below the diagonal are overconfident.

    Takes `metrics["calibration"]` (or its "bins" list). Empty bins have no bar; the red bars show
    the gap between each bin's accuracy and its mean confidence, whose sum (weighted by count) is
    the ECE.
    """
    bins = calibration["bins"] if isinstance(calibration, Mapping) else calibration
    filled = [b for b in bins if b.get("count") and b.get("accuracy") is not None]
    centres = [(b["lower"] + b["upper"]) / 2 for b in filled]
    widths = [b["upper"] - b["lower"] for b in filled]
    accuracy = [b["accuracy"] for b in filled]
    confidence = [b["mean_confidence"] for b in filled]
    hover = [[b["lower"], b["upper"], b["count"], b["mean_confidence"]] for b in filled]
    figure = go.Figure(
        [
            go.Bar(
                x=centres,
                y=accuracy,
                width=widths,
                name="accuracy",
                marker_color=PALETTE[0],
                customdata=hover,
                hovertemplate=(
                    "Confidence %{customdata[0]:.1f} to %{customdata[1]:.1f}<br>"
                    "Predictions: %{customdata[2]}<br>Accuracy: %{y:.3f}<br>"
                    "Mean confidence: %{customdata[3]:.3f}<extra></extra>"
                ),
            ),
            go.Bar(
                x=centres,
                y=[abs(c - a) for a, c in zip(accuracy, confidence, strict=True)],
                base=[min(a, c) for a, c in zip(accuracy, confidence, strict=True)],
                width=widths,
                name="gap to mean confidence",
                marker={"color": "rgba(239, 85, 59, 0.35)", "line": {"color": "#EF553B"}},
                hoverinfo="skip",
            ),
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                line={"dash": "dash", "color": "#999999"},
                name="perfect calibration",
            ),
        ]
    )
    ece_text = "n/a" if ece is None else f"{ece:.3f}"
    _style(figure, f"{title} (ECE {ece_text})", "Confidence", "Accuracy")
    figure.update_layout(barmode="overlay", bargap=0)
    _unit_square(figure)
    return figure


def data_map(
    confidence: Sequence[float],
    variability: Sequence[float],
    correctness: Sequence[float],
    texts: Sequence[str],
    labels: Sequence[str],
    ambiguous_from: float,
    easy_from: float,
) -> go.Figure:
    """Each training row by the variability and the mean of its gold label's probability over the
    epochs, coloured by the share of epochs it was right (Swayamdipta et al., 2020).

    The regions are drawn from the same thresholds that name them (`insight/cartography.py`):
    ambiguous from `ambiguous_from` variability, else easy to learn from `easy_from` confidence
    and hard to learn below it, where mislabelled rows gather.
    """
    x = [float(v) for v in variability]
    y = [float(c) for c in confidence]
    right = [float(c) for c in correctness]
    shown = [
        [_shown(excerpt(str(t), HOVER_CHARS)), _shown(label), share]
        for t, label, share in zip(texts, labels, right, strict=True)
    ]
    trace = go.Scattergl if len(x) >= WEBGL_FROM else go.Scatter
    right_edge = max([0.5, *x]) * 1.05
    figure = go.Figure(
        trace(
            x=x,
            y=y,
            mode="markers",
            name="training rows",
            customdata=shown,
            marker={
                "color": right,
                "colorscale": "RdYlBu",
                "cmin": 0,
                "cmax": 1,
                "size": 7,
                "opacity": 0.75,
                "colorbar": {"title": {"text": "correctness"}},
            },
            hovertemplate=(
                "%{customdata[0]}<br>label: %{customdata[1]}<br>confidence %{y:.3f}, "
                "variability %{x:.3f}, correctness %{customdata[2]:.2f}<extra></extra>"
            ),
        )
    )
    figure.add_vline(x=ambiguous_from, line_dash="dash", line_color="#888888")
    figure.add_shape(type="line", x0=0, x1=ambiguous_from, y0=easy_from, y1=easy_from,
                     line={"dash": "dash", "color": "#888888"})  # fmt: skip
    for text, at_x, at_y in (
        ("easy to learn", ambiguous_from / 2, 0.97),
        ("hard to learn", ambiguous_from / 2, 0.03),
        ("ambiguous", (ambiguous_from + right_edge) / 2, 0.5),
    ):
        figure.add_annotation(x=at_x, y=at_y, text=f"<b>{text}</b>", showarrow=False,
                              font={"size": 13, "color": "#444444"})  # fmt: skip
    _style(figure, "Data map of the training rows", "Variability", "Confidence")
    figure.update_layout(showlegend=False)
    figure.update_xaxes(range=[0, right_edge])
    figure.update_yaxes(range=[0, 1.02])
    return figure


def f1_side_by_side(
    label_names: Sequence[str],
    fine_tuned: Sequence[float | None],
    baseline: Sequence[float | None],
) -> go.Figure:
    """F1 of each class for the fine-tuned model and the baseline, bar beside bar."""
    names = _labels(label_names)
    figure = go.Figure(
        [
            go.Bar(x=names, y=[_finite(v) for v in fine_tuned], name="fine-tuned",
                   marker_color=PALETTE[0]),
            go.Bar(x=names, y=[_finite(v) for v in baseline], name="baseline (TF-IDF + LR)",
                   marker_color=PALETTE[2]),
        ]
    )  # fmt: skip
    _style(figure, "F1 per class", "Class", "F1")
    figure.update_layout(barmode="group")
    figure.update_xaxes(type="category")
    figure.update_yaxes(range=[0, 1.02])
    return figure


def class_probabilities(
    probabilities: Mapping[str, float],
    colours: Mapping[str, str] | None = None,
    threshold: float | None = None,
) -> go.Figure:
    """One text's probability per class, first class on top; multi-label runs show the threshold."""
    names = [str(name) for name in probabilities]
    values = [float(v) for v in probabilities.values()]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=_labels(names),
            orientation="h",
            text=[f"{v:.1%}" for v in values],
            textposition="auto",
            marker_color=_colours_for(names, colours),
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
            cliponaxis=False,
        )
    )
    if threshold is not None:
        figure.add_vline(
            x=threshold,
            line_dash="dash",
            line_color="#444444",
            annotation_text=f"threshold {threshold:.2f}",
            annotation_position="top",
        )
    _style(figure, "Class probabilities", "Probability", "Class")
    figure.update_layout(height=max(250, 60 + 40 * len(names)), showlegend=False)
    figure.update_xaxes(range=[0, 1], tickformat=".0%")
    figure.update_yaxes(type="category", autorange="reversed")
    return figure


def _style(figure: go.Figure, title: str, x_title: str, y_title: str) -> None:
    figure.update_layout(
        title={"text": _shown(title), "x": 0, "xanchor": "left"},
        xaxis_title=x_title,
        yaxis_title=y_title,
        template=TEMPLATE,
        height=HEIGHT,
        margin=MARGIN,
    )


def _colours_for(names: Sequence[str], colours: Mapping[str, str] | None) -> list[str]:
    chosen = colours if colours is not None else class_colours(names)
    return [chosen.get(name, FALLBACK_COLOUR) for name in names]


def _of_kind(events: Sequence[dict], kind: str) -> list[dict]:
    return [e for e in events if isinstance(e, dict) and e.get("event") == kind]


def _finite(value) -> float | None:
    """Plotly draws None as a gap; NaN from a diverged step would be drawn as nothing, silently."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _one_vs_rest(y_true, probabilities, label_names: Sequence[str], problem_type: str):
    """(class name, 0/1 truth, score) per curve: only the positive class for binary."""
    names = [str(name) for name in label_names]
    probs = np.asarray(probabilities, dtype=float)
    y = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[1] != len(names):
        raise ValueError(
            f"Probabilities must have one column per label ({len(names)}); got {probs.shape}."
        )
    if problem_type == "multi_label":
        indicator = y.astype(int)
    else:
        indicator = (y.astype(int)[:, None] == np.arange(len(names))[None, :]).astype(int)
    wanted = [1] if problem_type == "binary" else range(len(names))
    return [(names[c], indicator[:, c], probs[:, c]) for c in wanted]


def _curve(x, y, trace_name: str, colour: str) -> go.Scatter:
    return go.Scatter(
        x=np.asarray(x).tolist(),
        y=np.asarray(y).tolist(),
        mode="lines",
        name=trace_name,
        line={"color": colour},
    )


def _add_skipped(figure: go.Figure, label: str, reason: str) -> None:
    """A legend entry with no data, so a missing curve is explained instead of silently absent."""
    figure.add_trace(
        go.Scatter(x=[None], y=[None], mode="lines", name=f"{_shown(label)}: skipped ({reason})")
    )


def _titled(title: str, skipped: int) -> str:
    if not skipped:
        return title
    return f"{title} ({skipped} {'class' if skipped == 1 else 'classes'} skipped)"


def _unit_square(figure: go.Figure) -> None:
    figure.update_xaxes(range=[0, 1.0])
    figure.update_yaxes(range=[0, 1.02])


def attention_grid(cls_rows, tokens: Sequence[str]) -> go.Figure:
    """[CLS]'s attention for every layer x head at once: one row per (layer, head)."""
    layers, heads, _ = cls_rows.shape
    rows = [f"L{layer + 1} H{head + 1}" for layer in range(layers) for head in range(heads)]
    figure = go.Figure(
        go.Heatmap(
            z=cls_rows.reshape(layers * heads, -1),
            x=_positions(tokens),
            y=rows,
            colorscale="Blues",
            zmin=0,
            hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>",
        )
    )
    _style(figure, "Attention from [CLS], every layer and head", "Token", "Layer, head")
    figure.update_layout(height=max(350, 16 * len(rows)), yaxis_autorange="reversed")
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category")
    return figure


def token_bars(
    tokens: Sequence[str], series: Mapping[str, Sequence[float]], title: str
) -> go.Figure:
    """Several per-token scores side by side (for example rollout and Integrated Gradients)."""
    figure = go.Figure()
    labels = _positions(tokens)
    for index, (name, values) in enumerate(series.items()):
        figure.add_trace(
            go.Bar(x=labels, y=[float(v) for v in values], name=str(name),
                   marker_color=PALETTE[index % len(PALETTE)])
        )  # fmt: skip
    _style(figure, title, "Token", "Score")
    figure.update_xaxes(type="category")
    return figure


DIVERGING = [[0.0, "rgb(178,24,43)"], [0.5, "rgb(255,255,255)"], [1.0, "rgb(33,102,172)"]]


def _scaled(values: Sequence[float]) -> list[float]:
    peak = max((abs(float(v)) for v in values), default=0.0)
    return [float(v) / peak if peak > 0 else 0.0 for v in values]


def method_comparison(words: Sequence[str], by_method: Mapping[str, Sequence[float]]) -> go.Figure:
    """Every method's word attributions in one heatmap, each row scaled to its own largest |value|
    (methods have different units); the raw value is in the hover."""
    labels = _positions(words)
    names = list(by_method)
    figure = go.Figure(
        go.Heatmap(
            z=[_scaled(by_method[name]) for name in names],
            customdata=[[float(v) for v in by_method[name]] for name in names],
            x=labels,
            y=names,
            colorscale=DIVERGING,
            zmin=-1,
            zmax=1,
            colorbar={"title": "scaled"},
            hovertemplate="%{y}, %{x}: %{customdata:+.4f}<extra></extra>",
        )
    )
    _style(
        figure, "Word attributions by method (each row scaled to its largest |value|)", "Word", ""
    )
    figure.update_layout(height=max(260, 60 * len(names) + 120), yaxis_autorange="reversed")
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category")
    return figure


def top_words(
    words: Sequence[str], values: Sequence[float], k: int = 10, title: str = ""
) -> go.Figure:
    """The k words with the largest |attribution|, largest on top; blue for, red against."""
    ranked = sorted(range(len(words)), key=lambda i: -abs(float(values[i])))[:k][::-1]
    figure = go.Figure(
        go.Bar(
            x=[float(values[i]) for i in ranked],
            y=[f"{i}:{_shown(words[i])}" for i in ranked],
            orientation="h",
            marker_color=[
                "rgb(33,102,172)" if values[i] >= 0 else "rgb(178,24,43)" for i in ranked
            ],
            hovertemplate="%{y}: %{x:+.4f}<extra></extra>",
        )
    )
    _style(figure, title or f"Top {len(ranked)} words by |attribution|", "Attribution", "")
    figure.update_layout(height=max(250, 28 * len(ranked) + 110))
    figure.update_yaxes(type="category")
    return figure


def faithfulness_curves(curves: Sequence, titles: Mapping[str, str] | None = None) -> go.Figure:
    """Deletion (left) and insertion (right) curves of each method against the random order."""
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Deletion: top tokens taken away", "Insertion: only top tokens kept"),
    )
    for index, curve in enumerate(curves):
        name = (titles or {}).get(curve.name, curve.name)
        steps = len(curve.deletion) - 1
        x = [k / steps if steps else 0.0 for k in range(steps + 1)]
        dash = "dash" if curve.name == "random" else "solid"
        colour = FALLBACK_COLOUR if curve.name == "random" else PALETTE[index % len(PALETTE)]
        for column, y in ((1, curve.deletion), (2, curve.insertion)):
            figure.add_trace(
                go.Scatter(x=x, y=y, mode="lines", name=name, legendgroup=name,
                           showlegend=column == 1, line={"color": colour, "dash": dash})
            , row=1, col=column)  # fmt: skip
    _style(figure, "Faithfulness on this text", "Fraction of tokens", "Target probability")
    figure.update_yaxes(range=[0, 1.02])
    figure.update_xaxes(title_text="Fraction of tokens", range=[0, 1])
    return figure


def layer_heatmap(tokens: Sequence[str], values: Sequence[Sequence[float]]) -> go.Figure:
    """Token × encoder layer: Integrated Gradients at each layer's output, one shared scale."""
    peak = max((abs(float(v)) for row in values for v in row), default=0.0) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=[[float(v) for v in row] for row in values],
            x=_positions(tokens),
            y=[f"layer {n + 1}" for n in range(len(values))],
            colorscale=DIVERGING,
            zmin=-peak,
            zmax=peak,
            hovertemplate="%{y}, %{x}: %{z:+.4f}<extra></extra>",
        )
    )
    _style(figure, "Integrated Gradients at each encoder layer's output", "Token", "")
    figure.update_layout(height=max(260, 40 * len(values) + 140))
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category")
    return figure


def attention_head(matrix, tokens: Sequence[str], layer: int, head: int) -> go.Figure:
    """One head's full attention matrix (rows attend to columns); the top row is [CLS]'s."""
    labels = _positions(tokens)
    figure = go.Figure(
        go.Heatmap(
            z=np.asarray(matrix, dtype=float).tolist(),
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>",
        )
    )
    _style(
        figure, f"Layer {layer + 1}, head {head + 1}: who attends to whom", "Attended to", "From"
    )
    figure.update_layout(height=max(350, 22 * len(tokens) + 120), yaxis_autorange="reversed")
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category")
    return figure
