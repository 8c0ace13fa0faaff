"""Charts checked on the data inside each figure, not only that a figure comes back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from bertviz_lib.metrics import classification_metrics
from bertviz_lib.report import charts
from bertviz_lib.runs import predictions

SCRIPT = "<script>alert(1)</script>"
# plotly draws <b>, <i>, <br> and <a href> as markup; escaped, it draws the characters themselves
SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _values(array) -> list:
    """Plotly may hand data back as a tuple or a numpy array; compare as a plain list."""
    return np.asarray(array, dtype=object).tolist()


def _conventions(figure: go.Figure) -> None:
    assert isinstance(figure, go.Figure)
    assert figure.layout.title.text
    assert figure.layout.height and 250 <= figure.layout.height <= 450
    assert figure.layout.xaxis.title.text and figure.layout.yaxis.title.text


# ---------------------------------------------------------------- colours


def test_class_colours_are_fixed_by_position_and_distinct():
    names = [f"c{i}" for i in range(46)]
    colours = charts.class_colours(names)
    assert list(colours) == names
    assert len(set(colours.values())) == 46
    assert charts.class_colours(names) == colours
    assert charts.class_colours(["b", "a"])["b"] == colours["c0"]
    assert charts.class_colours([f"x{i}" for i in range(50)])["x46"] == colours["c0"]


def test_a_class_has_the_same_colour_on_distribution_and_probabilities():
    colours = charts.class_colours(["neg", "neu", "pos"])
    distribution = charts.label_distribution({"neg": 5, "neu": 2, "pos": 9}, colours)
    probabilities = charts.class_probabilities({"pos": 0.7, "neg": 0.2, "neu": 0.1}, colours)
    by_class_bar = dict(zip(distribution.data[0].x, distribution.data[0].marker.color, strict=True))
    by_class_prob = dict(
        zip(probabilities.data[0].y, probabilities.data[0].marker.color, strict=True)
    )
    assert by_class_bar == by_class_prob == colours


# ---------------------------------------------------------------- data page


def test_label_distribution_bars_and_text():
    figure = charts.label_distribution({"1": 4, "5": 10, SCRIPT: 1})
    _conventions(figure)
    bar = figure.data[0]
    assert list(bar.x) == ["1", "5", SHOWN]
    assert _values(bar.y) == [4, 10, 1]
    assert _values(bar.text) == ["4", "10", "1"]
    assert figure.layout.xaxis.type == "category"  # "1" and "5" stay classes, not numbers


def test_token_lengths_annotation_states_truncated_share():
    figure = charts.token_lengths([10, 20, 130, 128, 500, 40, 60, 129], max_length=128)
    _conventions(figure)
    assert _values(figure.data[0].x) == [10, 20, 130, 128, 500, 40, 60, 129]
    (line,) = figure.layout.shapes
    assert line.x0 == line.x1 == 128 and line.line.dash == "dash"
    text = figure.layout.annotations[0].text
    assert "37.5%" in text and "(3 of 8)" in text


def test_token_lengths_without_texts_says_zero():
    figure = charts.token_lengths([], max_length=64)
    assert "0.0% (0 of 0)" in figure.layout.annotations[0].text


# ---------------------------------------------------------------- training events

EVENTS = [
    {"event": "start", "total_steps": 6},
    {"event": "step", "step": 2, "epoch": 0.67, "loss": 0.9, "learning_rate": 5e-5},
    {"event": "step", "step": 3, "epoch": 1.0, "loss": 0.7, "learning_rate": 4e-5},
    {
        "event": "evaluation",
        "step": 3,
        "epoch": 1,
        "metrics": {"accuracy": 0.6, "macro_f1": 0.5, "log_loss": 0.8},
    },
    {"event": "step", "step": 5, "epoch": 1.67, "loss": float("nan"), "learning_rate": 2e-5},
    {"event": "step", "step": 6, "epoch": 2.0, "loss": 0.4, "learning_rate": 0.0},
    {
        "event": "evaluation",
        "step": 6,
        "epoch": 2,
        "metrics": {"accuracy": 0.75, "macro_f1": 0.7, "log_loss": 0.55},
    },
    {"event": "end", "stopped": "finished"},
]


def test_loss_curves_put_step_and_evaluation_losses_at_their_steps():
    figure = charts.loss_curves(EVENTS)
    _conventions(figure)
    training, validation = figure.data[:2]  # then the smoothed training loss
    assert _values(training.x) == [2, 3, 5, 6]
    assert _values(training.y) == [0.9, 0.7, None, 0.4]  # NaN becomes a visible gap
    assert _values(validation.x) == [3, 6]
    assert _values(validation.y) == [0.8, 0.55]
    assert training.name != validation.name


def test_learning_rate_curve():
    figure = charts.learning_rate_curve(EVENTS)
    _conventions(figure)
    assert _values(figure.data[0].x) == [2, 3, 5, 6]
    assert _values(figure.data[0].y) == [5e-5, 4e-5, 2e-5, 0.0]


def test_epoch_metrics_draw_only_metrics_present():
    figure = charts.epoch_metrics(EVENTS)
    _conventions(figure)
    assert [trace.name for trace in figure.data] == ["accuracy", "macro_f1"]
    assert _values(figure.data[0].x) == [1, 2]
    assert _values(figure.data[1].y) == [0.5, 0.7]


def test_charts_of_a_run_without_events_are_empty_not_errors():
    assert all(len(trace.x) == 0 for trace in charts.loss_curves([]).data)
    assert len(charts.epoch_metrics([]).data) == 0


# ---------------------------------------------------------------- confusion matrix

MATRIX = [[5, 1, 0], [2, 2, 0], [0, 0, 0]]


def test_confusion_matrix_counts():
    names = ["a", "b", SCRIPT]
    figure = charts.confusion_matrix(MATRIX, names)
    _conventions(figure)
    heatmap = figure.data[0]
    assert np.asarray(heatmap.z).tolist() == MATRIX
    assert list(heatmap.x) == list(heatmap.y) == ["a", "b", SHOWN]
    assert np.asarray(heatmap.text).tolist()[0] == ["5", "1", "0"]
    assert figure.layout.xaxis.title.text == "Predicted"
    assert figure.layout.yaxis.title.text == "True"
    assert figure.layout.yaxis.autorange == "reversed"
    for field in ("True", "Predicted", "Count", "Share"):
        assert field in heatmap.hovertemplate
    assert np.asarray(heatmap.customdata, dtype=float)[1, 0].tolist() == [2, 0.5]


def test_confusion_matrix_normalised_rows():
    figure = charts.confusion_matrix(MATRIX, ["a", "b", "c"], normalise=True)
    z = np.asarray(figure.data[0].z, dtype=float)
    np.testing.assert_allclose(z.sum(axis=1), [1, 1, 0])
    np.testing.assert_allclose(z[0], [5 / 6, 1 / 6, 0])
    assert np.asarray(figure.data[0].text).tolist()[1] == ["50%", "50%", "0%"]


def test_confusion_matrix_rejects_wrong_shape():
    with pytest.raises(ValueError, match="3 x 3"):
        charts.confusion_matrix([[1, 2], [3, 4]], ["a", "b", "c"])


# ---------------------------------------------------------------- ROC / PR


def _named(figure: go.Figure) -> dict[str, go.Scatter]:
    return {trace.name: trace for trace in figure.data}


def test_binary_roc_has_one_curve_for_the_positive_class():
    y = np.array([0, 0, 1, 1, 0, 1])
    p1 = np.array([0.1, 0.6, 0.35, 0.8, 0.2, 0.9])
    probs = np.column_stack([1 - p1, p1])
    colours = charts.class_colours(["neg", "pos"])
    figure = charts.roc_curves(y, probs, ["neg", "pos"], "binary", colours)
    _conventions(figure)
    curves = [t for t in figure.data if t.name != "chance"]
    assert len(curves) == 1
    assert curves[0].name == f"pos (AUC {roc_auc_score(y, p1):.3f})"
    assert curves[0].line.color == colours["pos"]
    chance = _named(figure)["chance"]
    assert _values(chance.x) == [0, 1] and _values(chance.y) == [0, 1]


def test_multi_class_roc_and_pr_skip_classes_without_positives():
    y = np.array([0, 1, 0, 1, 0, 1])  # no example of "c"
    probs = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.3, 0.5, 0.2],
            [0.4, 0.4, 0.2],
            [0.1, 0.8, 0.1],
            [0.6, 0.1, 0.3],
            [0.5, 0.3, 0.2],
        ]
    )
    names = ["a", "b", "c"]
    roc = charts.roc_curves(y, probs, names, "single_label")
    expected = roc_auc_score(y == 1, probs[:, 1])
    assert f"b (AUC {expected:.3f})" in _named(roc)
    assert "c: skipped (no positives)" in _named(roc)
    assert "1 class skipped" in roc.layout.title.text
    skipped = _named(roc)["c: skipped (no positives)"]
    assert _values(skipped.x) == [None]
    pr = charts.pr_curves(y, probs, names, "single_label")
    ap = average_precision_score(y == 0, probs[:, 0])
    assert f"a (AP {ap:.3f})" in _named(pr)
    assert "c: skipped (no positives)" in _named(pr)


def test_multi_label_roc_matches_metrics_per_class():
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1]])  # "c" has no negatives
    probs = np.array([[0.9, 0.2, 0.7], [0.3, 0.6, 0.8], [0.6, 0.4, 0.9], [0.2, 0.1, 0.6]])
    names = ["a", SCRIPT, "c"]
    scores = classification_metrics(y, probs, names, "multi_label")
    figure = charts.roc_curves(y, probs, names, "multi_label")
    traces = _named(figure)
    for name, auc in zip(["a", SHOWN], scores["roc_auc_per_class"][:2], strict=True):
        assert f"{name} (AUC {auc:.3f})" in traces
    assert "c: skipped (no negatives)" in traces
    pr = _named(charts.pr_curves(y, probs, names, "multi_label"))
    assert f"c (AP {scores['pr_auc_per_class'][2]:.3f})" in pr  # as in metrics: positives suffice


def test_curves_reject_probabilities_of_the_wrong_width():
    with pytest.raises(ValueError, match="one column per label"):
        charts.roc_curves(np.array([0, 1]), np.ones((2, 3)) / 3, ["a", "b"], "single_label")


# ---------------------------------------------------------------- calibration

CALIBRATION = {
    "bins": [
        {"lower": 0.0, "upper": 0.5, "count": 0, "mean_confidence": None, "accuracy": None},
        {"lower": 0.5, "upper": 0.75, "count": 4, "mean_confidence": 0.6, "accuracy": 0.5},
        {"lower": 0.75, "upper": 1.0, "count": 6, "mean_confidence": 0.9, "accuracy": 1.0},
    ]
}


def test_reliability_diagram_bars_gaps_and_ece():
    figure = charts.reliability_diagram(CALIBRATION, 0.1)
    _conventions(figure)
    accuracy, gap, diagonal = figure.data
    assert _values(accuracy.x) == [0.625, 0.875]  # the empty bin has no bar
    assert _values(accuracy.y) == [0.5, 1.0]
    assert np.asarray(accuracy.customdata, dtype=float)[:, 2].tolist() == [4, 6]
    np.testing.assert_allclose(np.asarray(gap.base, dtype=float), [0.5, 0.9])
    np.testing.assert_allclose(np.asarray(gap.y, dtype=float), [0.1, 0.1])
    assert _values(diagonal.x) == [0, 1] and _values(diagonal.y) == [0, 1]
    assert "ECE 0.100" in figure.layout.title.text


def test_reliability_diagram_from_real_metrics():
    y = np.array([0, 1, 1, 0, 1])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [0.4, 0.6], [0.1, 0.9]])
    scores = classification_metrics(y, probs, ["n", "p"], "binary")
    figure = charts.reliability_diagram(scores["calibration"], scores["ece"])
    assert sum(np.asarray(figure.data[0].customdata, dtype=float)[:, 2]) == 5
    assert f"{scores['ece']:.3f}" in figure.layout.title.text


# ---------------------------------------------------------------- one prediction


def test_class_probabilities_bars_text_and_threshold():
    figure = charts.class_probabilities({"joy": 0.82, SCRIPT: 0.4, "fear": 0.05}, threshold=0.5)
    _conventions(figure)
    bar = figure.data[0]
    assert list(bar.y) == ["joy", SHOWN, "fear"]
    assert _values(bar.x) == [0.82, 0.4, 0.05]
    assert list(bar.text) == ["82.0%", "40.0%", "5.0%"]
    assert list(figure.layout.xaxis.range) == [0, 1]
    assert figure.layout.yaxis.autorange == "reversed"
    (line,) = figure.layout.shapes
    assert line.x0 == 0.5 and line.line.dash == "dash"


def test_class_probabilities_without_threshold_has_no_line():
    assert not charts.class_probabilities({"a": 0.6, "b": 0.4}).layout.shapes


# ---------------------------------------------------------------- predictions table


def _table(true_labels: list[str], names: list[str], probs: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "text": [f"text {i}" for i in range(len(true_labels))],
            "true_label": true_labels,
            "predicted_label": [names[i] for i in probs.argmax(axis=1)],
            "confidence": probs.max(axis=1),
        }
    )
    for index, name in enumerate(names):
        table[f"p_{name}"] = probs[:, index]
    return table


def test_predictions_arrays_binary_round_trip():
    names = ["negative", "positive"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    table = _table(["negative", "positive", "negative"], names, probs)
    y, p = predictions.arrays(table, names, "binary")
    assert y.tolist() == [0, 1, 0]
    np.testing.assert_allclose(p, probs)
    classification_metrics(y, p, names, "binary")  # the format metrics accepts


def test_predictions_arrays_multi_class_with_odd_names():
    names = ["1", SCRIPT, "a;b"]  # a single label may contain the delimiter
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.6, 0.2]])
    table = _table(["1", "a;b", SCRIPT], names, probs)
    y, p = predictions.arrays(table, names, "single_label")
    assert y.tolist() == [0, 2, 1]
    np.testing.assert_allclose(p, probs)


def test_predictions_arrays_multi_label_round_trip():
    names = ["joy", "fear", SCRIPT]
    probs = np.array([[0.9, 0.1, 0.6], [0.2, 0.7, 0.1], [0.3, 0.2, 0.1]])
    cells = [f"joy;{SCRIPT}", "fear", ""]
    y, p = predictions.arrays(_table(cells, names, probs), names, "multi_label")
    assert y.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    np.testing.assert_allclose(p, probs)
    classification_metrics(y, p, names, "multi_label")


def test_predictions_arrays_reject_a_mismatched_table():
    names = ["a", "b"]
    table = _table(["a", "b"], names, np.array([[0.6, 0.4], [0.3, 0.7]]))
    with pytest.raises(ValueError, match="p_c"):
        predictions.arrays(table, ["a", "c"], "single_label")
    table.loc[0, "true_label"] = "z"
    with pytest.raises(ValueError, match="'z'"):
        predictions.arrays(table, names, "single_label")


def test_method_comparison_scales_each_row_and_keeps_raw_values_for_hover():
    figure = charts.method_comparison(
        ["good", "film", "good"], {"ig": [0.5, -0.25, 0.0], "lime": [0.02, 0.01, -0.04]}
    )
    heat = figure.data[0]
    assert list(heat.x) == ["0:good", "1:film", "2:good"]  # repeated words stay apart
    assert [list(row) for row in heat.z] == [[1.0, -0.5, 0.0], [0.5, 0.25, -1.0]]
    assert heat.customdata[1][2] == -0.04 and heat.zmin == -1 and heat.zmax == 1


def test_top_words_keeps_the_largest_magnitudes_with_signed_colours():
    figure = charts.top_words(["a", "b", "c", "d"], [0.1, -0.9, 0.5, 0.0], k=2)
    bar = figure.data[0]
    assert list(bar.y) == ["2:c", "1:b"]  # largest |value| drawn on top (last)
    assert list(bar.x) == [0.5, -0.9]
    assert bar.marker.color[1] != bar.marker.color[0]


def test_faithfulness_curves_draw_deletion_and_insertion_per_method():
    from bertviz_lib.explain.deletion_insertion import Curves

    curves = [
        Curves("ig", [0.9, 0.2, 0.1], [0.1, 0.8, 0.9], 0.75, 0.05),
        Curves("random", [0.9, 0.6, 0.1], [0.1, 0.3, 0.9], 0.55, 0.35),
    ]
    figure = charts.faithfulness_curves(curves, {"ig": "Integrated Gradients"})
    assert len(figure.data) == 4
    assert [t.name for t in figure.data if t.showlegend] == ["Integrated Gradients", "random"]
    assert list(figure.data[0].x) == [0.0, 0.5, 1.0] and figure.data[2].line.dash == "dash"


def test_layer_heatmap_is_centred_on_zero():
    figure = charts.layer_heatmap(["[CLS]", "ok", "[SEP]"], [[0.0, 0.3, 0.0], [0.0, -0.6, 0.1]])
    heat = figure.data[0]
    assert heat.zmin == -0.6 and heat.zmax == 0.6
    assert list(heat.y) == ["layer 1", "layer 2"]


def test_markup_plotly_understands_is_escaped_in_every_user_string():
    bold = "<b>good</b>"
    figures = [
        charts.label_distribution({bold: 3}),
        charts.confusion_matrix([[1]], [bold]),
        charts.class_probabilities({bold: 0.9}),
        charts.top_words([bold], [0.5], title=f"Towards '{bold}'"),
        charts.attention_grid(np.ones((1, 1, 1)), [bold]),
    ]
    for figure in figures:
        drawn = [figure.layout.title.text]
        for trace in figure.data:
            drawn += [str(v) for v in (trace.x or ())] + [str(v) for v in (trace.y or ())]
        assert not any("<b>" in text for text in drawn), drawn
        assert any("&lt;b&gt;good&lt;/b&gt;" in text for text in drawn)


def test_the_moving_average_is_tensorboards_debiased_one():
    values = [1.0, 0.0, None, float("nan"), 1.0]
    w = 0.6
    first = 1.0  # debiased: (0.4 x 1) / (1 - 0.6)
    second = (w * 0.4 + 0) / (1 - w**2)  # the average 0.24 over its weight so far
    third = (w * (w * 0.4) + 0.4) / (1 - w**3)
    assert charts.smoothed(values, w) == pytest.approx([first, second, None, None, third])
    assert charts.smoothed([]) == []
    assert charts.smoothed([0.5] * 5) == pytest.approx([0.5] * 5)  # no pull towards 0


def test_the_loss_curve_draws_the_smoothed_line_over_faint_raw_points():
    events = [{"event": "step", "step": s, "loss": v} for s, v in [(1, 1.0), (2, 0.2), (3, 0.6)]]
    figure = charts.loss_curves(events)
    raw, _, line = figure.data
    assert raw.opacity == charts.RAW_OPACITY and line.opacity is None
    assert _values(line.x) == [1, 2, 3]
    assert _values(line.y) == pytest.approx(charts.smoothed([1.0, 0.2, 0.6]))
    assert "smoothed" in line.name and raw.line.color == line.line.color


def test_the_data_map_places_rows_and_names_the_regions():
    figure = charts.data_map(
        [0.9, 0.1], [0.05, 0.3], [1.0, 0.25], [SCRIPT, "x" * 500], ["a", SCRIPT], 0.2, 0.5
    )
    _conventions(figure)
    points = figure.data[0]
    assert isinstance(points, go.Scatter)
    assert _values(points.x) == [0.05, 0.3] and _values(points.y) == [0.9, 0.1]
    assert _values(points.marker.color) == [1.0, 0.25]
    assert points.customdata[0][0] == SHOWN and points.customdata[1][1] == SHOWN
    assert len(points.customdata[1][0]) == charts.HOVER_CHARS
    names = [a.text for a in figure.layout.annotations]
    assert names == ["<b>easy to learn</b>", "<b>hard to learn</b>", "<b>ambiguous</b>"]
    lines = figure.layout.shapes
    assert lines[0].x0 == lines[0].x1 == 0.2  # ambiguous from 0.2
    assert lines[1].y0 == lines[1].y1 == 0.5 and lines[1].x1 == 0.2


def test_a_large_data_map_draws_with_webgl():
    rows = charts.WEBGL_FROM
    figure = charts.data_map([0.5] * rows, [0.1] * rows, [1.0] * rows, ["t"] * rows, ["a"] * rows,
                             0.2, 0.5)  # fmt: skip
    assert isinstance(figure.data[0], go.Scattergl)


def test_f1_bars_stand_side_by_side_per_class():
    figure = charts.f1_side_by_side(["a", SCRIPT], [0.9, None], [0.7, 0.4])
    _conventions(figure)
    mine, theirs = figure.data
    assert _values(mine.x) == ["a", SHOWN]
    assert _values(mine.y) == [0.9, None] and _values(theirs.y) == [0.7, 0.4]
    assert figure.layout.barmode == "group"


def test_a_reliability_diagram_takes_its_title():
    bins = [{"lower": 0.9, "upper": 1.0, "count": 3, "mean_confidence": 0.95, "accuracy": 0.6}]
    figure = charts.reliability_diagram(bins, 0.35, "After, held out")
    assert figure.layout.title.text == "After, held out (ECE 0.350)"
    assert charts.reliability_diagram(bins, None).layout.title.text.startswith("Reliability")
