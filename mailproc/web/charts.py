"""Charts drawn on the server as SVG markup: numbers in, an accessible picture out.

Every chart is an ``<svg role="img">`` named by its ``<title>`` and described in words by
its ``<desc>`` (the caller's summary), drawn in a viewBox: the page scales it to its column,
but never below a readable width (desk.css: on a phone a chart scrolls sideways in its own
region). Series differ by colour and by pattern, and the values are printed, so no meaning
rests on colour alone; the colours reach 4.5:1 against white. Only presentation attributes
(``fill``, ``stroke``): the pages' Content-Security-Policy forbids ``style=``. All text is
escaped: theme and area names come from the rules files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

from mailproc.web.filters import number

WIDTH = 560  # of the viewBox; the page scales it to its column
INK, MUTED, TRACK, GRID = "#1b1f24", "#4f5965", "#f2f4f7", "#c9d0d8"
COLOURS = ("#0b4f8a", "#b45309", "#1d6b34", "#7e22ce", "#a4161a", "#0f766e", "#4f5965")
# White marks over the colour: with 7 colours and 5 marks, 35 series look apart.
MARKS = (
    "",
    '<path d="M-2,2 L2,-2 M0,8 L8,0 M6,10 L10,6" stroke="#fff" stroke-width="1.5"/>',
    '<circle cx="4" cy="4" r="1.6" fill="#fff"/>',
    '<path d="M0,4 H8" stroke="#fff" stroke-width="2"/>',
    '<path d="M4,0 V8" stroke="#fff" stroke-width="2"/>',
)
MAX_LABELS = 12  # x labels shown under columns; more would overlap on a phone
LABEL_CHARS = 38  # of a legend entry (the data table has the whole name)
EMPTY = "Nenhum dado no período."


@dataclass(frozen=True)
class Series:
    """One stacked part of every column: its name (for the legend) and its values."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Share:
    """A horizontal bar: ``part`` of ``whole``, printed as a percentage and as counts."""

    label: str
    part: int
    whole: int


def percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` in whole percent, halves rounded up (0 for a whole of 0)."""
    return (200 * part + whole) // (2 * whole) if whole else 0


def columns(
    chart_id: str,
    title: str,
    summary: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_axis: str,
    x_axis: str,
    top: float | None = None,
    value_labels: Sequence[str] | None = None,
    notes: Sequence[str] = (),
    empty: str = EMPTY,
) -> Markup:
    """Vertical columns, one per label, each stacking the series' values (a legend names
    them when there are several). Heights are in proportion to ``top`` (default: a round
    number above the tallest column); each column's total, or ``value_labels``, is printed
    above it, and ``notes`` under its label."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0)
    if peak <= 0:
        return _empty(chart_id, title, summary, empty)
    ticks = _ticks(top or peak)
    # Room left of the plot for a scale's label up to "10.000", whole.
    left, plot_top, plot_height, plot_width = 56, 30, 200, WIDTH - 56 - 12
    below = plot_top + plot_height
    slot = plot_width / len(labels)
    bar = max(slot * 0.7, 1)
    every = math.ceil(len(labels) / MAX_LABELS)
    shown = value_labels or [_value(t) for t in totals]
    scale = plot_height / ticks[-1]
    parts = [_defs(chart_id, len(series))]
    parts.append(f'<text x="{left}" y="14" fill="{INK}">{escape(y_axis)}</text>')
    for tick in ticks:
        y = below - tick * scale
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{number(tick)}</text>"
        )
    for i, label in enumerate(labels):
        x, y = left + i * slot + (slot - bar) / 2, float(below)
        for s, one in enumerate(series):
            height = one.values[i] * scale
            if height > 0:
                y -= height
                what = escape(f"{one.name}, {label}: {_value(one.values[i])}")
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                    f'height="{height:.1f}" fill="{_fill(chart_id, s, len(series))}" '
                    f'stroke="#fff" stroke-width="0.5"><title>{what}</title></rect>'
                )
        centre = x + bar / 2
        if slot >= 14:
            parts.append(
                f'<text class="value" x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'fill="{INK}" font-size="11">{escape(shown[i])}</text>'
            )
        if i % every == 0:
            parts.append(
                f'<text x="{centre:.1f}" y="{below + 16}" text-anchor="middle" '
                f'fill="{INK}">{escape(label)}</text>'
            )
            if notes:
                parts.append(
                    f'<text x="{centre:.1f}" y="{below + 30}" text-anchor="middle" '
                    f'fill="{MUTED}" font-size="10">{escape(notes[i])}</text>'
                )
    axis_y = below + (48 if notes else 34)
    parts.append(
        f'<line x1="{left}" x2="{WIDTH - 12}" y1="{below}" y2="{below}" stroke="{INK}"/>'
        f'<text x="{left + plot_width / 2:.1f}" y="{axis_y}" text-anchor="middle" '
        f'fill="{INK}">{escape(x_axis)}</text>'
    )
    legend, height = _legend(chart_id, series, axis_y + 12)
    return _svg(chart_id, title, summary, height, [*parts, legend])


def shares(
    chart_id: str,
    title: str,
    summary: str,
    rows: Sequence[Share],
    *,
    x_axis: str,
    empty: str = EMPTY,
) -> Markup:
    """Horizontal bars, one per row, as long as its share of its whole, printed beside it
    as "85% (17 de 20)"; a row with nothing to count says so."""
    if not any(row.whole for row in rows):
        return _empty(chart_id, title, summary, empty)
    left, length, row_height = 20, 360, 46
    axis_top = len(rows) * row_height + 4
    # A scale under the bars, with ticks: lines across the rows would cross their labels.
    parts = [
        f'<line x1="{left}" x2="{left + length}" y1="{axis_top}" y2="{axis_top}" stroke="{INK}"/>'
    ]
    for tick in (0, 25, 50, 75, 100):
        x = left + length * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis_top}" y2="{axis_top + 5}" stroke="{INK}"/>'
            f'<text x="{x:.1f}" y="{axis_top + 18}" text-anchor="middle" fill="{MUTED}">'
            f"{tick}%</text>"
        )
    parts.append(
        f'<text x="{left + length / 2:.1f}" y="{axis_top + 36}" text-anchor="middle" '
        f'fill="{INK}">{escape(x_axis)}</text>'
    )
    for i, row in enumerate(rows):
        top = i * row_height
        parts.append(
            f'<text x="{left}" y="{top + 16}" fill="{INK}">{escape(row.label)}</text>'
            f'<rect x="{left}" y="{top + 22}" width="{length}" height="16" fill="{TRACK}" '
            f'stroke="{MUTED}" stroke-width="0.5"/>'
        )
        if row.part > 0 and row.whole > 0:
            parts.append(
                f'<rect class="bar" x="{left}" y="{top + 22}" '
                f'width="{length * row.part / row.whole:.1f}" height="16" fill="{COLOURS[0]}"/>'
            )
        told = (
            f"{percent(row.part, row.whole)}% ({number(row.part)} de {number(row.whole)})"
            if row.whole
            else "nada a contar"
        )
        parts.append(
            f'<text x="{left + length + 8}" y="{top + 35}" fill="{INK}">{escape(told)}</text>'
        )
    return _svg(chart_id, title, summary, axis_top + 46, parts)


# -- the pieces --------------------------------------------------------------------------------


def _svg(chart_id: str, title: str, summary: str, height: float, parts: Sequence[str]) -> Markup:
    ident = escape(chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" font-size="13">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(summary)}</desc>' + "".join(parts) + "</svg>"
    )


def _empty(chart_id: str, title: str, summary: str, message: str) -> Markup:
    """A chart with nothing to draw: its message in place of the picture, where the picture
    begins (a phone scrolls a chart sideways: a centred message would be out of sight)."""
    text = f'<text x="12" y="44" fill="{MUTED}" font-size="14">{escape(message)}</text>'
    return _svg(chart_id, title, summary, 72, [text])


def _value(value: float) -> str:
    """A count as a whole number, anything else with one decimal."""
    return number(value, 0 if value == int(value) else 1)


def _ticks(peak: float) -> tuple[float, ...]:
    """Round steps from 0 to just above ``peak``: at most 5 of 1, 2 or 5 times a power of 10."""
    for exponent in count():
        for mantissa in (1, 2, 5):
            step = mantissa * 10**exponent
            if peak / step <= 5:
                return tuple(step * i for i in range(math.ceil(peak / step) + 1))
    raise AssertionError("unreachable")


def _fill(chart_id: str, index: int, how_many: int) -> str:
    """A series' fill: its plain colour, or its pattern when there are several series."""
    if how_many == 1:
        return COLOURS[0]
    return f"url(#{escape(chart_id)}-s{index})"


def _defs(chart_id: str, how_many: int) -> str:
    """The patterns of the chart's series (ids prefixed by the chart's: one page, many charts)."""
    if how_many == 1:
        return ""
    patterns = (
        f'<pattern id="{escape(chart_id)}-s{i}" width="8" height="8" '
        f'patternUnits="userSpaceOnUse"><rect width="8" height="8" '
        f'fill="{COLOURS[i % len(COLOURS)]}"/>{MARKS[i % len(MARKS)]}</pattern>'
        for i in range(how_many)
    )
    return "<defs>" + "".join(patterns) + "</defs>"


def _legend(chart_id: str, series: Sequence[Series], top: float) -> tuple[str, float]:
    """The series' names beside their swatches, two per line, and the chart's full height."""
    if len(series) < 2:
        return "", top
    parts = []
    for i, one in enumerate(series):
        x, y = 12 + (i % 2) * (WIDTH - 24) / 2, top + (i // 2) * 22
        name = one.name if len(one.name) <= LABEL_CHARS else one.name[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="14" '
            f'fill="{_fill(chart_id, i, len(series))}" stroke="{INK}" stroke-width="0.5"/>'
            f'<text x="{x + 20:.1f}" y="{y + 11:.1f}" fill="{INK}">{escape(name)}</text>'
        )
    return "".join(parts), top + math.ceil(len(series) / 2) * 22 + 4
