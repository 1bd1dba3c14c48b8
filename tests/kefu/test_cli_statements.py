"""``kefu price``, ``kefu statement`` and the billing options of ``kefu licensee``: an operator's
month, from prices to a paid statement, with clean errors that record nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import Result

from core.db.engine import Database
from core.errors import ExitCode
from testkit.billing import add_units
from testkit.cli import assert_clean_error, one_json
from testkit.tenants import ORIGIN

SH = ZoneInfo("Asia/Shanghai")
Kefu = Callable[..., Result]


def units(url: str, lid: str, *starts: datetime) -> None:
    db = Database(url)
    try:
        add_units(db, lid, starts)
    finally:
        db.close()


def test_prices_and_the_price_in_force(kefu: Kefu) -> None:
    lic = one_json(
        kefu(
            "licensee",
            "create",
            "--name",
            "Shop",
            "--origin",
            ORIGIN,
            "--unit-price",
            "0.40",
            "--start",
            "2026-01-01",
            "--json",
        )
    )
    assert one_json(kefu("licensee", "show", lic["id"], "--json"))["unit_price"] == "0.40"
    kefu("price", "set", "--licensee", lic["id"], "--unit-price", "0.35", "--from", "2026-02-01")
    listed = one_json(kefu("price", "list", lic["id"], "--json"))
    assert listed["in_force"] == "0.35"
    assert [p["from"] for p in listed["prices"]] == ["2026-01-01", "2026-02-01"]
    for bad in (
        ["--unit-price", "-1", "--from", "2026-03-01"],
        ["--unit-price", "0.1", "--from", "2026-3-1"],
        ["--unit-price", "0.12345", "--from", "2026-03-01"],
    ):
        assert_clean_error(kefu("price", "set", "--licensee", lic["id"], *bad, ok=False))
    assert len(one_json(kefu("price", "list", lic["id"], "--json"))["prices"]) == 2


def test_a_month_issued_paid_noted_and_downloaded(kefu: Kefu, cli_url: str, tmp_path: Path) -> None:
    lic = one_json(
        kefu(
            "licensee",
            "create",
            "--name",
            "Shop",
            "--origin",
            ORIGIN,
            "--start",
            "2026-01-01",
            "--unit-price",
            "0.50",
            "--base-fee",
            "20000",
            "--signed",
            "2026-09-29",
            "--json",
        )
    )
    lid = lic["id"]
    assert lic["base_fee_bill"] == {
        "number": "2026-000001",
        "total": "20000.00",
        "due_date": "2026-10-12",
    }
    units(cli_url, lid, *[datetime(2026, 10, 8, 10, tzinfo=SH)] * 9)
    issued = one_json(kefu("statement", "issue", lid, "2026-10", "--json"))
    assert issued["number"] == "2026-000002"
    shown = one_json(kefu("statement", "show", lid, "2026-10", "--json"))
    # The base fee bill was issued today, after its due date: it is late from tomorrow on, so
    # October carries no late fee for it.
    assert [(ln["kind"], ln["amount"]) for ln in shown["lines"]] == [("usage", "4.50")]

    again = kefu("statement", "issue", lid, "2026-10", ok=False)
    assert_clean_error(again)
    assert again.exit_code == ExitCode.CONFLICT and "2026-000002" in again.stderr
    for bad in (
        ["--amount", "999999"],
        ["--amount", "-5"],
        ["--amount", "abc"],
        ["--amount", "1.001"],
        ["--amount", "1", "--on", "2026-13-01"],
        ["--prepay", "5"],
    ):
        assert_clean_error(kefu("statement", "pay", lid, "2026-10", *bad, ok=False))
    assert_clean_error(kefu("statement", "show", lid, "2031-01", ok=False))
    assert kefu("statement", "show", lid, "2031-01", ok=False).exit_code == ExitCode.NOT_FOUND
    assert kefu("statement", "show", lid, "2026-1", ok=False).exit_code == ExitCode.INVALID
    assert kefu("statement", "issue", lid, "26-10", ok=False).exit_code == ExitCode.INVALID
    # Nothing of those was recorded, and the issued statement is as it was.
    assert one_json(kefu("statement", "show", lid, "2026-000002", "--json")) | {
        "status": None,
        "late_fee_accrued": None,
    } == shown | {"status": None, "late_fee_accrued": None}

    paid = one_json(kefu("statement", "pay", lid, "2026-000002", "--amount", "4.50", "--json"))
    assert paid["kind"] == "payment"
    assert one_json(kefu("statement", "show", lid, "2026-10", "--json"))["status"] == "paid"
    kefu(
        "statement",
        "note",
        lid,
        "--amount",
        "-1.50",
        "--reason",
        "重复计费 counted twice",
        "--corrects",
        "2026-000002",
    )
    assert_clean_error(kefu("statement", "note", lid, "--amount", "0", "--reason", "x", ok=False))
    assert_clean_error(kefu("statement", "note", lid, "--amount", "1", "--reason", " ", ok=False))

    for fmt in ("csv", "detail.csv", "xlsx", "pdf"):
        out = tmp_path / f"s.{fmt}"
        kefu("statement", "download", lid, "2026-10", "--format", fmt, "-o", str(out))
        assert out.stat().st_size > 0
    assert (
        hashlib.sha256((tmp_path / "s.detail.csv").read_bytes()).hexdigest()
        == shown["detail_sha256"]
    )
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")
    assert_clean_error(kefu("statement", "download", lid, "2026-10", "--format", "docx", ok=False))

    listed = one_json(kefu("statement", "list", lid, "--json"))["statements"]
    assert [(s["number"], s["kind"]) for s in listed] == [
        ("2026-000002", "usage"),
        ("2026-000001", "base_fee"),
    ]


def test_billing_terms_exception_and_early_termination(kefu: Kefu) -> None:
    lid = one_json(kefu("licensee", "create", "--name", "Shop", "--origin", ORIGIN, "--json"))["id"]
    terms = one_json(
        kefu(
            "licensee",
            "billing",
            lid,
            "--access-fee",
            "5000",
            "--tax-id",
            "9131",
            "--exception",
            "延期付款已批准",
            "--json",
        )
    )
    assert (
        terms["access_compensation_fee"] == "5000.00"
        and terms["suspension_exception"] == "延期付款已批准"
    )
    kefu("statement", "pay", lid, "--prepay", "300")
    today = json.loads(kefu("licensee", "show", lid, "--json").stdout)["service_start"]
    ended = one_json(kefu("licensee", "terminate", lid, "--notice-date", today, "--json"))
    assert ended["refunded"] == "300.00" and ended["bill"] is not None
    assert one_json(kefu("licensee", "show", lid, "--json"))["service_end"] == ended["service_end"]
    assert_clean_error(kefu("licensee", "terminate", lid, "--notice-date", today, ok=False))
