"""Charts drawn on the server as SVG: bars or lines per day, with axes and labels.

Plain SVG text in the page: nothing is fetched at page load, nothing runs in the browser. Every
text (titles, series names, day labels) is escaped here; the result is ``Markup``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 36
PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")

Number = int | float | Decimal


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[Number | None]  # one per day; None draws nothing (a gap in a line)


def nice_step(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^n at or above ``value`` (a grid step that reads well)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if power * factor >= value * (1 - 1e-9):
            return float(power * factor)
    return float(power * 10)  # pragma: no cover - factor 10 always reaches it


def axis(value: float, lines: int = 4) -> tuple[float, float]:
    """The axis top and grid step for data up to ``value``: at most ``lines`` steps of a
    round size, the top a whole number of steps."""
    step = nice_step(value / lines) if value > 0 else 1.0
    return step * max(1, math.ceil(value / step - 1e-9)), step


def _number(value: float) -> str:
    if value >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _days(days: Sequence[date]) -> list[tuple[int, str]]:
    """Which days get a label: about eight, always the first and the last."""
    if not days:
        return []
    every = max(1, -(-len(days) // 8))
    picked = list(range(0, len(days), every))
    if picked[-1] != len(days) - 1:
        picked[-1] = len(days) - 1
    return [(i, f"{days[i]:%m-%d}") for i in picked]


def chart(
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    *,
    kind: str = "bar",
    unit: str = "",
    stacked: bool = False,
) -> Markup:
    """A bar (side by side or ``stacked``) or line chart of ``series`` over ``days``."""
    n = max(len(days), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if stacked:
        totals = [sum(float(s.values[i] or 0) for s in series) for i in range(len(days))]
        top, step = axis(max(totals, default=0))
    else:
        top, step = axis(
            max((float(v) for s in series for v in s.values if v is not None), default=0)
        )
    x0, y0 = LEFT, TOP + plot_h

    def y(value: float) -> float:
        return y0 - plot_h * value / top

    slot = plot_w / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}'
        f"{escape(f' ({unit})') if unit else ''}</text>",
    ]
    for k in range(round(top / step) + 1):  # grid lines and the y axis's labels
        value = step * k
        parts.append(
            f'<line x1="{x0}" x2="{x0 + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'class="grid"/><text x="{x0 - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'class="tick">{_number(value)}</text>'
        )
    for i, label in _days(days):
        parts.append(
            f'<text x="{x0 + slot * (i + 0.5):.1f}" y="{y0 + 16}" text-anchor="middle" '
            f'class="tick">{label}</text>'
        )
    if kind == "line":
        for k, s in enumerate(series):
            color = PALETTE[k % len(PALETTE)]
            points = [
                f"{x0 + slot * (i + 0.5):.1f},{y(float(v)):.1f}"
                for i, v in enumerate(s.values)
                if v is not None
            ]
            if points:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                    f'points="{" ".join(points)}"><title>{escape(s.name)}</title></polyline>'
                )
    else:
        gap = slot * 0.15
        width = (slot - 2 * gap) / (1 if stacked else max(len(series), 1))
        for i in range(len(days)):
            base = 0.0
            for k, s in enumerate(series):
                v = float(s.values[i] or 0)
                if v <= 0:
                    continue
                left = x0 + slot * i + gap + (0 if stacked else k * width)
                lo, hi = (base, base + v) if stacked else (0.0, v)
                base = hi if stacked else base
                parts.append(
                    f'<rect x="{left:.1f}" y="{y(hi):.1f}" width="{max(width, 0.5):.1f}" '
                    f'height="{y(lo) - y(hi):.1f}" fill="{PALETTE[k % len(PALETTE)]}">'
                    f"<title>{days[i]:%Y-%m-%d} {escape(s.name)}: {_number(v)}</title></rect>"
                )
    parts.append(
        f'<line x1="{x0}" x2="{x0 + plot_w}" y1="{y0}" y2="{y0}" class="axis"/>'
        f'<line x1="{x0}" x2="{x0}" y1="{TOP}" y2="{y0}" class="axis"/>'
    )
    legend_x = WIDTH - RIGHT
    for k, s in reversed(list(enumerate(series))):  # the legend, right-aligned at the top
        name = escape(s.name)
        legend_x -= 14 + 7 * _width(s.name)
        parts.append(
            f'<rect x="{legend_x}" y="7" width="10" height="10" '
            f'fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{legend_x + 13}" y="16" class="legend">{name}</text>'
        )
        legend_x -= 8
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def _width(text: str) -> int:
    """Rough width in half-em units: CJK characters count twice."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def ranked(
    title: str, rows: Sequence[tuple[str, Number]], *, unit: str = "", most: int = 10
) -> Markup:
    """Horizontal bars, one per named row (an agent, …), largest first; the first ``most``
    rows, the rest added up in a last bar named "…"."""
    ordered = sorted(rows, key=lambda r: -float(r[1]))
    if len(ordered) > most:
        rest = sum(float(v) for _, v in ordered[most - 1 :])
        ordered = [*ordered[: most - 1], ("…", rest)]
    bar_h, gap, label_w = 22, 8, 140
    height = TOP + max(len(ordered), 1) * (bar_h + gap) + 8
    plot_w = WIDTH - label_w - RIGHT - 48
    top = max((float(v) for _, v in ordered), default=0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'class="chart" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}'
        f"{escape(f' ({unit})') if unit else ''}</text>",
    ]
    for i, (name, value) in enumerate(ordered):
        y = TOP + i * (bar_h + gap)
        width = plot_w * float(value) / top
        shown = _clip(name, label_w // 7)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="end" '
            f'class="tick">{escape(shown)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(width, 0.5):.1f}" height="{bar_h}" '
            f'fill="{PALETTE[0]}"><title>{escape(name)}: {_number(float(value))}</title></rect>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + bar_h / 2 + 4:.1f}" '
            f'class="tick">{_number(float(value))}</text>'
        )
    parts.append(
        f'<line x1="{label_w}" x2="{label_w}" y1="{TOP - 4}" y2="{height - 8}" class="axis"/></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def _clip(text: str, room: int) -> str:
    """``text`` cut to about ``room`` half-em units, with "…" when cut."""
    if _width(text) <= room:
        return text
    out = ""
    for ch in text:
        if _width(out + ch) > room - 1:
            break
        out += ch
    return out + "…"
