"""Server-drawn SVG charts: escaped text, one bar per non-zero value, an axis that reads well."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from admin.charts import Series, chart, nice_max

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
NS = "{http://www.w3.org/2000/svg}"


def test_axis_tops_are_round_numbers_at_or_above_the_data() -> None:
    assert [nice_max(v) for v in (0, 0.3, 1, 7, 13, 120, 1234, 250_001)] == [
        1,
        0.5,
        1,
        10,
        20,
        200,
        2000,
        500_000,
    ]


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
