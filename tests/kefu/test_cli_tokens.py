"""``kefu tokens``: packages, redemption, prices and the monthly cost report, with --json."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from core.db.engine import Database
from core.ledger.money import LEDGER_ZONE
from core.ledger.tokens import record_call
from core.licensing.service_period import month_of
from core.types import utcnow
from testkit.cli import assert_clean_error as assert_clean_cli_error
from testkit.cli import cli_environment, one_json


@pytest.fixture
def cli_url(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's environment on each database in turn."""
    return cli_environment(db_url, tmp_path, monkeypatch)


def assert_clean_error(result: Result, words: str = "") -> None:
    """A clean error (test_cli's sense) whose message on stderr says ``words``."""
    assert_clean_cli_error(result)
    assert words in result.stderr


def add_package(
    *options: str, provider: str = "p", tokens: str = "10", price: str = "1"
) -> tuple[str, ...]:
    """The arguments of ``kefu tokens add-package`` with these values and ``options``."""
    return ("tokens", "add-package", "--provider", provider, "--tokens", tokens, "--price", price,
            *options)  # fmt: skip


def set_price(
    *options: str,
    provider: str = "p",
    model: str = "m",
    per_input: str = "1",
    per_output: str = "1",
    per_cache_hit: str = "1",
) -> tuple[str, ...]:
    """The arguments of ``kefu tokens price`` with these prices per million and ``options``."""
    return ("tokens", "price", "--provider", provider, "--model", model, "--input", per_input,
            "--output", per_output, "--cache-hit", per_cache_hit, *options)  # fmt: skip


def record(url: str, licensee_id: str, at: datetime, **tokens: int) -> str:
    db = Database(url, sqlite_synchronous="NORMAL")
    try:
        return db.writer.run(
            lambda conn: record_call(
                conn,
                licensee_id=licensee_id,
                conversation_id=None,
                reply_id=None,
                provider="deepseek",
                model="deepseek-chat",
                input_tokens=tokens.get("inp", 0),
                output_tokens=tokens.get("out", 0),
                cache_hit_tokens=tokens.get("cache", 0),
                latency_ms=300,
                first_token_ms=90,
                outcome="ok",
                now=at,
            )
        )
    finally:
        db.close()


def test_round_trip_add_redeem_price_call_report(kefu: Callable[..., Result], cli_url: str) -> None:
    lic = one_json(
        kefu("licensee", "create", "--name", "Shop", "--origin", "https://a.example.com", "--json")
    )
    added = one_json(
        kefu(
            *add_package(
                "--name", "first", "--json", provider="DeepSeek", tokens="500000000", price="2000"
            )
        )
    )
    assert added["id"].startswith("pkg_")
    assert (added["provider"], added["tokens_total"], added["tokens_left"]) == (
        "deepseek",
        500_000_000,
        500_000_000,
    )
    assert (added["price"], added["currency"], added["status"]) == ("2000", "CNY", "unredeemed")
    assert added["redeemed_at"] is None and added["redeem_by"] is not None

    redeemed = one_json(kefu("tokens", "redeem", added["id"], "--json"))
    assert redeemed["status"] == "active"
    expires = datetime.fromisoformat(redeemed["expires_at"])
    assert expires - datetime.fromisoformat(redeemed["redeemed_at"]) == timedelta(days=360)

    priced = one_json(
        kefu(
            *set_price(
                "--from",
                "2020-01-01",
                "--json",
                provider="deepseek",
                model="deepseek-chat",
                per_input="2",
                per_output="8",
                per_cache_hit="0.5",
            )
        )
    )
    assert priced == {
        "provider": "deepseek",
        "model": "deepseek-chat",
        "effective_from": "2020-01-01",
        "input_per_million": "2",
        "output_per_million": "8",
        "cache_hit_per_million": "0.5",
        "currency": "CNY",
    }

    now = utcnow()
    # 1,000,003 input tokens (3 of them cache hits) and 250,000 output: 1,250,003 tokens.
    record(cli_url, lic["id"], now, inp=1_000_003, out=250_000, cache=3)
    report = one_json(kefu("tokens", "report", "--json"))
    assert report["month"] == month_of(now, LEDGER_ZONE)
    assert "0.01" in report["rounding"]
    [package] = report["packages"]
    assert package["tokens_left"] == 500_000_000 - 1_250_003
    assert package["used_cost"] == "5.0000120000"
    [line] = report["licensees"]
    assert line["id"] == lic["id"] and line["calls"] == 1
    assert line["tokens"] == {
        "input": 1_000_003,
        "output": 250_000,
        "cache_hit": 3,
        "total": 1_250_003,
    }
    [cost] = line["costs"]
    assert cost["currency"] == "CNY"
    assert (cost["from_packages"], cost["from_packages_exact"]) == ("5.00", "5.0000120000")
    assert (cost["pay_as_you_go"], cost["total"]) == ("0.00", "5.00")
    assert line["revenue"] == [] and line["units"] == 0
    assert line["margin"] == {"currency": "CNY", "amount": "-5.00", "amount_exact": "-5.0000120000"}
    assert report["totals"] == [
        {
            "currency": "CNY",
            "cost": "5.00",
            "cost_exact": "5.0000120000",
            "revenue": "0.00",
            "revenue_exact": "0",
            "margin": "-5.00",
            "margin_exact": "-5.0000120000",
        }
    ]
    assert report["alerts"] == []

    text = kefu("tokens", "report").stdout
    assert added["id"] in text and "rounded half-up to 0.01" in text
    assert "CNY 5.00" in text


def test_dates_are_the_ledgers_and_the_redeem_window_is_enforced(
    kefu: Callable[..., Result],
) -> None:
    def deepseek_1000(*options: str) -> tuple[str, ...]:
        return add_package(*options, provider="deepseek", tokens="1000")

    # A date means its start in Asia/Shanghai: 2020-01-31 is exactly 30 days after 2020-01-01.
    on_time = one_json(kefu(*deepseek_1000("--purchased", "2020-01-01", "--json")))
    assert on_time["purchased_at"] == "2020-01-01T00:00:00+08:00"
    assert on_time["redeem_by"] == "2020-01-31T00:00:00+08:00"
    done = one_json(kefu("tokens", "redeem", on_time["id"], "--at", "2020-01-31", "--json"))
    assert done["expires_at"] == "2021-01-25T00:00:00+08:00"
    assert done["status"] == "expired"

    late = one_json(kefu(*deepseek_1000("--purchased", "2020-01-01T00:00:00+08:00", "--json")))
    result = kefu("tokens", "redeem", late["id"], "--at", "2020-01-31T00:00:01+08:00", ok=False)
    assert_clean_error(result, "void")
    assert_clean_error(kefu("tokens", "redeem", on_time["id"], ok=False), "already redeemed")

    report = one_json(kefu("tokens", "report", "--month", "2020-01", "--json"))
    assert [a["kind"] for a in report["alerts"]] == ["void"]
    assert {p["status"] for p in report["packages"]} == {"expired", "void"}


@pytest.mark.parametrize(
    "args",
    [
        ("tokens", "redeem", "pkg_nope"),
        ("tokens", "redeem", "pkg_nope", "--at", "2020-02-30"),
        add_package(tokens="0"),
        add_package(price="-1"),
        add_package("--currency", "rmb"),
        add_package("--purchased", "yesterday"),
        add_package("--purchased", "2020-01-01T08:00"),
        add_package("--purchased", "2999-01-01"),
        set_price(per_input="x"),
        set_price("--from", "1/1/2026"),
        ("tokens", "report", "--month", "2026-13"),
    ],
)
def test_bad_input_is_a_clean_error(kefu: Callable[..., Result], args: tuple[str, ...]) -> None:
    assert_clean_error(kefu(*args, ok=False))


def test_redeeming_in_the_future_is_refused(kefu: Callable[..., Result]) -> None:
    package = one_json(kefu(*add_package("--json", tokens="9")))
    later = (utcnow() + timedelta(days=2)).astimezone(UTC).isoformat()
    assert_clean_error(kefu("tokens", "redeem", package["id"], "--at", later, ok=False), "future")


def test_the_report_of_an_empty_ledger(kefu: Callable[..., Result]) -> None:
    report = one_json(kefu("tokens", "report", "--month", "2026-01", "--json"))
    assert (report["packages"], report["alerts"], report["licensees"], report["totals"]) == (
        [],
        [],
        [],
        [],
    )
    assert "(none)" in kefu("tokens", "report", "--month", "2026-01").stdout


def test_a_price_takes_the_providers_currency(kefu: Callable[..., Result]) -> None:
    kefu(*add_package("--currency", "USD", provider="openai", tokens="9"))
    row = one_json(
        kefu(
            *set_price(
                "--json",
                provider="openai",
                model="gpt-4o-mini",
                per_input="0.15",
                per_output="0.6",
                per_cache_hit="0.075",
            )
        )
    )
    assert row["currency"] == "USD"
    result = kefu(*set_price("--currency", "CNY", provider="openai", model="x"), ok=False)
    assert_clean_error(result, "bills in USD")
    assert Decimal(row["cache_hit_per_million"]) == Decimal("0.075")
