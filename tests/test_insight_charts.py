"""The figures of the insight tabs and the smoothed loss curve, checked on their data."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from bertviz_lib.report import charts
from tests.test_charts import SCRIPT, SHOWN, _conventions, _values


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
