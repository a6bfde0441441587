"""Charts drawn on the server as inline SVG: no chart library, nothing fetched by the browser.

Every number placed in the SVG is formatted here from ints and floats, and every label goes
through markupsafe's escape, so a chart cannot carry markup from the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from pq.ops.series import FinishedSeries

WIDTH = 600
HEIGHT = 140
PAD_LEFT = 36
PAD_BOTTOM = 18


@dataclass(frozen=True)
class Layer:
    """One colour of a stacked bar chart: a CSS class and one value per bar."""

    name: str
    css_class: str
    values: Sequence[float]


def stacked_bars(
    layers: Sequence[Layer], labels: Sequence[str], *, title: str, unit: str
) -> Markup:
    """A stacked bar chart, one bar per label, with the maximum marked on the y axis."""
    count = len(labels)
    totals = [sum(layer.values[i] for layer in layers) for i in range(count)]
    top = max(totals, default=0) or 1
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_BOTTOM
    slot = plot_w / max(count, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{plot_h}" x2="{WIDTH}" y2="{plot_h}"/>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="10" text-anchor="end">'
        f"{escape(_number(top))}</text>",
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{plot_h}" text-anchor="end">0</text>',
    ]
    for i in range(count):
        base = float(plot_h)
        for layer in layers:
            value = layer.values[i]
            if value <= 0:
                continue
            height = value / top * (plot_h - 4)
            base -= height
            parts.append(
                f'<rect class="{layer.css_class}" x="{PAD_LEFT + i * slot + 0.5:.1f}" '
                f'y="{base:.1f}" width="{max(slot - 1, 0.5):.1f}" height="{height:.1f}">'
                f"<title>{escape(labels[i])}: {escape(_number(value))} {escape(unit)} "
                f"{escape(layer.name)}</title></rect>"
            )
    ticks = {0: "start", count // 2: "middle", count - 1: "end"} if count else {}
    for i, anchor in ticks.items():
        x = {"start": PAD_LEFT + i * slot, "middle": PAD_LEFT + i * slot + slot / 2}.get(
            anchor, WIDTH
        )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}" '
            f'text-anchor="{anchor}">{escape(labels[i])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def throughput_chart(series: FinishedSeries) -> Markup:
    """Tasks ended per minute: completed, failed and cancelled stacked."""
    labels = [m.minute.strftime("%H:%M") for m in series.minutes]
    layers = [
        Layer("completed", "ok", [m.completed for m in series.minutes]),
        Layer("failed", "bad", [m.failed for m in series.minutes]),
        Layer("cancelled", "muted", [m.cancelled for m in series.minutes]),
    ]
    return stacked_bars(layers, labels, title="Tasks ended per minute (UTC)", unit="tasks")


def failure_rate_chart(series: FinishedSeries) -> Markup:
    """Per minute, the percentage of ended tasks that failed (minutes with none stay empty)."""
    labels = [m.minute.strftime("%H:%M") for m in series.minutes]
    rates = [
        100.0 * m.failed / (m.completed + m.failed) if m.completed + m.failed else 0.0
        for m in series.minutes
    ]
    return stacked_bars(
        [Layer("failed", "bad", rates)], labels, title="Failure rate per minute (%)", unit="%"
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
