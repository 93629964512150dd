"""Scatter charts as placed geometry (pixels, ticks, legend) for the page's inline SVG template.

Why hand-placed SVG and not matplotlib's SVG backend: a chart here is a few kilobytes with text kept as text,
each point carries its own hover text, and nothing needs a font or a script from outside the page. The tick
positions still come from matplotlib's ``MaxNLocator``, so axes get the same round numbers as the PNG plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.ticker import MaxNLocator

WIDTH, HEIGHT = 720, 440
MARGIN = {"left": 64, "right": 24, "top": 20, "bottom": 56}
CHAR_WIDTH, TEXT_HEIGHT, MARKER = 6.4, 11.0, 6.0
"""Approximate size of an 11 px label character and line, and a marker's half-width, in pixels."""
_LOCATOR = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10])
_OFFSETS = ((9, -5), (9, 13), (-9, -5), (-9, 13), (9, -17), (9, 25), (-9, -17), (-9, 25))
"""Label positions tried around a marker (dx, baseline dy); negative dx puts the label on the left."""

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Point:
    """One marker in data units: ``colour`` indexes the palette, ``square`` picks the shape."""

    x: float
    y: float
    colour: int
    tip: str
    label: str = ""
    square: bool = False


@dataclass(frozen=True)
class Placed:
    """A point in pixels; its label (empty when no free spot was found) starts at ``label_x``, ``label_y``."""

    x: float
    y: float
    colour: int
    square: bool
    tip: str
    label: str
    label_x: float
    label_y: float
    anchor: str


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template draws, already in pixels of a ``width`` x ``height`` view box."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_label: str
    y_label: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    points: tuple[Placed, ...]
    links: tuple[tuple[float, float, float, float], ...]
    diagonal: tuple[float, float, float, float] | None


class _Scale:
    """Linear map of a data interval onto a pixel interval, widened to round tick values."""

    def __init__(self, values: Sequence[float], start: float, end: float, bounds: tuple[float, float] | None) -> None:
        lo, hi = min(values), max(values)
        if hi - lo < 1e-9:
            pad = max(abs(lo) * 0.05, 1.0)
            lo, hi = lo - pad, hi + pad
        pad = 0.06 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        if bounds is not None:  # an accuracy axis never shows 105 %
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        ticks = [float(t) for t in _LOCATOR.tick_values(lo, hi)]
        self.lo, self.hi = ticks[0], ticks[-1]
        self.start, self.end = start, end
        self.ticks = tuple(Tick(self(t), f"{round(t, 9):g}") for t in ticks)

    def __call__(self, value: float) -> float:
        return round(self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start), 1)


def scatter(
    points: Sequence[Point],
    *,
    x_label: str,
    y_label: str,
    links: Sequence[tuple[Point, Point]] = (),
    diagonal: bool = False,
    bounds: tuple[float, float] | None = None,
) -> Chart:
    """Place ``points`` (and lines joining ``links`` pairs) on round-numbered axes, labels where they fit.

    ``bounds`` limits the padded axes (0-100 for accuracies). ``diagonal`` gives both axes the same range and
    draws y = x: the parity plot of a comparison, where a point off the line is a change. A label that would
    overlap a marker, another label or the frame is dropped; its point keeps the hover text and the legend.
    Raises ValueError on an empty chart (the caller decides what to show instead).
    """
    if not points:
        raise ValueError("a scatter chart needs at least one point")
    left, top = MARGIN["left"], MARGIN["top"]
    right, bottom = WIDTH - MARGIN["right"], HEIGHT - MARGIN["bottom"]
    xs, ys = [p.x for p in points], [p.y for p in points]
    if diagonal:
        xs = ys = xs + ys
    sx, sy = _Scale(xs, left, right, bounds), _Scale(ys, bottom, top, bounds)
    pixels = [(sx(p.x), sy(p.y)) for p in points]
    taken: list[Box] = [(x - MARKER, y - MARKER, x + MARKER, y + MARKER) for x, y in pixels]
    placed = []
    for p, (x, y) in zip(points, pixels, strict=True):
        label, lx, ly, anchor = "", x, y, "start"
        for dx, dy in _OFFSETS if p.label else ():
            width = CHAR_WIDTH * len(p.label)
            x0 = x + dx if dx > 0 else x + dx - width
            box = (x0, y + dy - TEXT_HEIGHT + 2, x0 + width, y + dy + 2)
            inside = left < box[0] and box[2] < right and top < box[1] and box[3] < bottom
            if inside and not any(_overlap(box, other) for other in taken):
                taken.append(box)
                label, lx, ly, anchor = p.label, x + dx, y + dy, "start" if dx > 0 else "end"
                break
        placed.append(Placed(x, y, p.colour, p.square, p.tip, label, lx, ly, anchor))
    lines = tuple((sx(a.x), sy(a.y), sx(b.x), sy(b.y)) for a, b in links)
    line = (sx(sx.lo), sy(sy.lo), sx(sx.hi), sy(sy.hi)) if diagonal else None
    return Chart(WIDTH, HEIGHT, left, top, right, bottom, x_label, y_label, sx.ticks, sy.ticks, tuple(placed),
                 lines, line)  # fmt: skip


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
