"""Scatter geometry: points inside the frame at the right places, round ticks, bounds, labels that never overlap."""

from __future__ import annotations

import pytest

from rdibench.results.page import Point, scatter
from rdibench.results.page.chart import CHAR_WIDTH, TEXT_HEIGHT


def test_points_map_linearly_inside_the_frame():
    points = [Point(3.7, 93.2, 0, "a"), Point(9.3, 99.4, 1, "b"), Point(6.0, 82.8, 2, "c")]
    chart = scatter(points, x_label="MFlops", y_label="%", bounds=(0.0, 100.0))
    for p in chart.points:
        assert chart.left <= p.x <= chart.right and chart.top <= p.y <= chart.bottom
    xs = [float(t.text) for t in chart.x_ticks]
    ys = [float(t.text) for t in chart.y_ticks]
    assert xs == sorted(xs) and xs[0] <= 3.7 and xs[-1] >= 9.3
    assert ys[-1] == 100 and ys[0] <= 82.8  # padded, but an accuracy axis stops at 100
    (x0, y0), (x1, y1), (x2, _) = [(p.x, p.y) for p in chart.points]
    assert (x2 - x0) / (x1 - x0) == pytest.approx((6.0 - 3.7) / (9.3 - 3.7), abs=0.01)
    assert y1 < y0  # higher accuracy is drawn higher up (smaller SVG y)


def test_tick_positions_match_their_values():
    chart = scatter([Point(0.0, 0.0, 0, ""), Point(10.0, 5.0, 0, "")], x_label="", y_label="")
    first, last = chart.x_ticks[0], chart.x_ticks[-1]
    assert (first.at, last.at) == (chart.left, chart.right)
    p0 = chart.points[0]
    assert p0.x == pytest.approx(
        first.at + (0.0 - float(first.text)) / (float(last.text) - float(first.text)) * (last.at - first.at), abs=0.05
    )  # pixels are rounded to 0.1


def test_parity_chart_shares_its_axes_and_draws_the_diagonal():
    chart = scatter([Point(90.0, 80.0, 0, ""), Point(95.0, 96.0, 0, "")], x_label="A", y_label="B", diagonal=True)
    assert [t.text for t in chart.x_ticks] == [t.text for t in chart.y_ticks]
    assert chart.diagonal == (chart.left, chart.bottom, chart.right, chart.top)


def test_labels_do_not_overlap_and_crowded_ones_are_dropped():
    crowd = [Point(1.0 + 0.001 * i, 50.0, i, f"model-{i}", label=f"model-{i}") for i in range(12)]
    chart = scatter([*crowd, Point(9.0, 10.0, 0, "far", label="far")], x_label="", y_label="")
    labelled = [p for p in chart.points if p.label]
    assert 1 < len(labelled) < len(crowd) + 1 and chart.points[-1].label == "far"
    boxes = []
    for p in labelled:
        width = CHAR_WIDTH * len(p.label)
        x0 = p.label_x if p.anchor == "start" else p.label_x - width
        boxes.append((x0, p.label_y - TEXT_HEIGHT + 2, x0 + width, p.label_y + 2))
    for i, a in enumerate(boxes):
        assert chart.left < a[0] and a[2] < chart.right
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_single_value_and_empty_charts():
    chart = scatter([Point(4.0, 99.0, 0, "")], x_label="", y_label="", bounds=(0.0, 100.0))
    assert len(chart.x_ticks) >= 2 and float(chart.y_ticks[-1].text) <= 100
    with pytest.raises(ValueError, match="at least one point"):
        scatter([], x_label="", y_label="")
