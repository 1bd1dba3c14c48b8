"""Server-drawn SVG charts: escaped text, one bar per non-zero value, an axis that reads well."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from admin.charts import Series, axis, chart, ranked

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
NS = "{http://www.w3.org/2000/svg}"


def test_axes_have_round_steps_and_a_top_at_or_above_the_data() -> None:
    got = [axis(v) for v in (0, 0.05, 1, 7, 25, 120, 1234, 250_001)]
    expected = [(1, 1), (0.06, 0.02), (1, 0.5), (8, 2), (30, 10), (150, 50), (1500, 500)]
    flat = [v for pair in got for v in pair]
    assert flat == pytest.approx([v for pair in [*expected, (300_000, 100_000)] for v in pair])


def test_a_stacked_bar_chart_is_valid_svg_with_escaped_labels() -> None:
    svg = chart(
        "对话 <b>&",
        DAYS,
        [Series("已回答", [i % 3 for i in range(30)]), Series('<script>"', [1] * 30)],
        stacked=True,
    )
    root = ET.fromstring(str(svg))  # well-formed: every text was escaped
    assert "<script>" not in svg and "<b>" not in svg
    bars = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(bars) == sum(1 for i in range(30) if i % 3) + 30
    labels = [t.text for t in root.iter(f"{NS}text")]
    assert "11-01" in labels and "11-30" in labels
    assert root.find(f"{NS}title").text == "对话 <b>&"  # type: ignore[union-attr]


def test_a_line_chart_skips_missing_days() -> None:
    svg = chart("p95", DAYS[:3], [Series("p95", [100, None, 300])], kind="line", unit="ms")
    root = ET.fromstring(str(svg))
    [line] = list(root.iter(f"{NS}polyline"))
    assert len(line.get("points", "").split()) == 2
    assert "(ms)" in svg


def test_an_empty_range_still_draws_axes() -> None:
    root = ET.fromstring(str(chart("x", [], [Series("a", [])])))
    assert len(list(root.iter(f"{NS}line"))) >= 2


def test_a_ranked_chart_escapes_names_orders_bars_and_folds_the_rest() -> None:
    rows = [(f"客服{i}", i) for i in range(1, 14)] + [('<img src=x onerror="1">', 20)]
    svg = ranked("每位客服接待 <b>", rows, most=5)
    root = ET.fromstring(str(svg))  # well-formed: every name went through escape()
    assert "<img" not in svg and "<b>" not in svg
    bars = [r.find(f"{NS}title").text for r in root.iter(f"{NS}rect")]  # type: ignore[union-attr]
    # The largest four, then the other ten added up.
    assert bars == [
        '<img src=x onerror="1">: 20',
        "客服13: 13",
        "客服12: 12",
        "客服11: 11",
        "…: 55",
    ]
    widths = [float(r.get("width", 0)) for r in root.iter(f"{NS}rect")]
    assert widths[4] > widths[0] > widths[1] > widths[2] > widths[3] > 0  # to scale
    assert widths[0] / widths[4] == pytest.approx(20 / 55, abs=0.01)
    assert ranked("empty", []).startswith("<svg")
