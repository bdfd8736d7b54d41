"""Median and p90 reply time per day, drawn on the server as inline SVG (no script needed).

Days without replies leave a gap in the lines rather than dropping to zero, which would read
as "answered instantly". Every point carries a ``<title>`` (a native tooltip) and the page
puts the same numbers in a table for screen readers and text browsers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.domain.durations import format_duration
from bot.services.engagement import DayPoint
from bot.web.html import Safe, element, join, render, table

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 32, 28, 44
# Tick steps in seconds: the first that keeps the axis to at most five steps is used.
_STEPS = (
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
    2419200,
)
SERIES = (("median", "#2563eb", "median"), ("p90", "#f97316", "p90"))


def _scale(top: float) -> tuple[int, int]:
    """(step, axis maximum) in seconds."""
    for step in _STEPS:
        if top <= step * 5:
            return step, max(step, -(-int(top) // step) * step)
    step = _STEPS[-1]
    return step, -(-int(top) // step) * step


def _fmt(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))


def _value(point: DayPoint, series: str) -> float | None:
    return point.reply.median_seconds if series == "median" else point.reply.p90_seconds


def reply_time_chart(points: Sequence[DayPoint], title: str) -> Safe:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for p in points for s, _, _ in SERIES if (v := _value(p, s)) is not None]
    parts: list[Safe] = [
        element("title", title, id="chart-title"),
        element("desc", "Median and 90th percentile reply time per day", id="chart-desc"),
    ]
    if not values:
        parts.append(
            element(
                "text",
                "No replies in this period yet",
                x=WIDTH // 2,
                y=HEIGHT // 2,
                text_anchor="middle",
                class_="empty",
            )
        )
        return _svg(parts)
    step, top = _scale(max(values))
    n = len(points)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    for tick in range(0, top + 1, step):
        parts.append(
            element(
                "line",
                x1=LEFT,
                x2=WIDTH - RIGHT,
                y1=f"{y(tick):.1f}",
                y2=f"{y(tick):.1f}",
                class_="grid",
            )
        )
        parts.append(
            element(
                "text",
                _fmt(tick),
                x=LEFT - 6,
                y=f"{y(tick) + 4:.1f}",
                text_anchor="end",
                class_="axis",
            )
        )
    for i, p in enumerate(points):
        if i % 7 == (n - 1) % 7:  # a label a week, ending on the last day
            parts.append(
                element(
                    "text",
                    f"{p.day:%d %b}",
                    x=f"{x(i):.1f}",
                    y=HEIGHT - BOTTOM + 18,
                    text_anchor="middle",
                    class_="axis",
                )
            )
    for series, colour, _label in reversed(SERIES):  # the median drawn over the p90
        run: list[str] = []
        for i, q in enumerate([*points, None]):
            v = _value(q, series) if q is not None else None
            if q is None or v is None:
                if len(run) > 1:
                    parts.append(
                        element(
                            "polyline",
                            points=" ".join(run),
                            fill="none",
                            stroke=colour,
                            stroke_width=2,
                            class_=series,
                        )
                    )
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            tip = (
                f"{q.day:%a %d %b}: median {_fmt(q.reply.median_seconds or 0)}, "
                f"p90 {_fmt(q.reply.p90_seconds or 0)} ({q.reply.count} replies)"
            )
            parts.append(
                element(
                    "circle",
                    element("title", tip),
                    cx=f"{x(i):.1f}",
                    cy=f"{y(v):.1f}",
                    r=3,
                    fill=colour,
                    class_=f"pt {series}",
                )
            )
    for k, (_series, colour, label) in enumerate(SERIES):
        lx = WIDTH - RIGHT - 150 + k * 75
        parts.append(element("rect", x=lx, y=8, width=12, height=12, fill=colour))
        parts.append(element("text", label, x=lx + 16, y=18, class_="axis"))
    return _svg(parts)


def _svg(parts: Sequence[Safe]) -> Safe:
    return render(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 $w $h" width="$w" height="$h" '
        'role="img" aria-labelledby="chart-title chart-desc" class="chart">$body</svg>',
        w=WIDTH,
        h=HEIGHT,
        body=join(parts),
    )


def chart_table(points: Sequence[DayPoint]) -> Safe:
    """The chart's numbers as rows: day, replies, median, p90."""
    rows = [
        (
            f"{p.day:%a %d %b}",
            p.reply.count,
            _fmt(p.reply.median_seconds) if p.reply.median_seconds is not None else "–",
            _fmt(p.reply.p90_seconds) if p.reply.p90_seconds is not None else "–",
        )
        for p in points
    ]
    return table(("day", "replies", "median", "p90"), rows, class_="numbers")
