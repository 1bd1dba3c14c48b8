"""The itemised detail's own CSV lines are byte for byte what the csv module writes, odd ids and
zones included, so the SHA-256 on an issued statement does not depend on the writer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.billing.detail import csv_chunks

ROWS = [
    (
        "conv_01m953a8nsjctsbmz7erfxqj5j",
        datetime(2026, 11, 1, 3, 4, 5, tzinfo=UTC),
        Decimal("0.4500"),
        True,
        False,
    ),
    (
        "=cmd|' /C calc'!A0",
        datetime(2026, 3, 8, 7, 0, 0, 123, tzinfo=UTC),
        Decimal("0.5"),
        False,
        True,
    ),
    ('a,b"c', datetime(2026, 3, 8, 7, tzinfo=UTC), Decimal("1"), False, False),
    ("-leading", datetime(2026, 3, 8, 7, tzinfo=UTC), Decimal("1"), False, False),
    ("内部-1", datetime(2026, 3, 8, 7, tzinfo=UTC), Decimal("1"), False, False),
]


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Asia/Kathmandu"])
@pytest.mark.parametrize("batch", [1, 2, 5000])
def test_own_lines_equal_the_csv_module(tz: str, batch: int) -> None:
    fast = b"".join(csv_chunks(iter(ROWS), tz, batch))
    slow = b"".join(csv_chunks(iter(ROWS), tz, batch, fast=False))
    assert fast == slow
    assert b"\n'=cmd" in fast and b'\n"a,b""c"' in fast and b"\n'-leading" in fast
