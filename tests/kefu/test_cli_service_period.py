"""``kefu licensee renew|open``, ``kefu outage``, ``kefu availability`` and ``kefu archive``:
JSON on stdout, clear errors on stderr with nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.types import utcnow
from testkit.cli import Kefu, assert_clean_error, one_json


def create(kefu: Kefu, *extra: str) -> str:
    data = one_json(kefu("licensee", "create", "--name", "Shop", "--origin", "https://a.cn",
                         *extra, "--json"))  # fmt: skip
    return str(data["id"])


def show(kefu: Kefu, licensee_id: str) -> dict[str, Any]:
    return one_json(kefu("licensee", "show", licensee_id, "--json"))


def test_renew_and_open(kefu: Kefu) -> None:
    today = utcnow().date()
    lic = create(kefu, "--start", str(today + timedelta(days=10)))
    end = show(kefu, lic)["service_end"]
    opened = one_json(
        kefu("licensee", "open", lic, "--on", str(today + timedelta(days=13)), "--json")
    )
    assert opened["service_end"] == str(datetime.fromisoformat(end).date() + timedelta(days=3))
    renewed = one_json(kefu("licensee", "renew", lic, "--end", "2099-12-31", "--json"))
    assert renewed["service_end"] == "2099-12-31" and renewed["revocation_lifted"] is False
    assert "service ends 2100-01-01" in kefu("licensee", "renew", lic, "--end", "2100-01-01").stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("renew", "{lic}", "--end", "2000-01-01"), 2, "must be after"),
        (("renew", "{lic}", "--end", "31/12/2099"), 2, "YYYY-MM-DD"),
        (("renew", "lic_nope", "--end", "2099-01-01"), 3, "no licensee"),
        (("open", "{lic}", "--on", "2000-01-01"), 2, "before the service start"),
        (("open", "{lic}", "--on", "soon"), 2, "YYYY-MM-DD"),
    ],
)
def test_bad_renewals_and_openings_are_clear_errors_and_change_nothing(
    kefu: Kefu, args: tuple[str, ...], code: int, message: str
) -> None:
    lic = create(kefu)
    before = show(kefu, lic)
    result = kefu("licensee", *(a.format(lic=lic) for a in args), ok=False)
    assert_clean_error(result)
    assert result.exit_code == code and message in result.stderr
    assert show(kefu, lic) == before


def test_outage_add_list_and_availability(kefu: Kefu) -> None:
    lic = create(kefu, "--start", "2026-01-01", "--end", "2099-12-30")
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    added = one_json(kefu("outage", "add", "--from", start.isoformat(), "--to",
                          (start + timedelta(hours=2)).isoformat(), "--licensee", lic,
                          "--reason", "机房断电 power cut", "--json"))  # fmt: skip
    assert added["licensees"] == [
        {"id": lic, "outage_seconds": 7200, "days_added": 1, "service_end": "2099-12-31"}
    ]
    listed = one_json(kefu("outage", "list", "--json"))
    assert [o["id"] for o in listed["outages"]] == [added["id"]]
    assert listed["outages"][0]["reason"] == "机房断电 power cut"
    assert "机房断电" in kefu("outage", "list").stdout
    report = one_json(kefu("availability", "--month", "2026-03", "--licensee", lic, "--json"))
    [row] = report["licensees"]
    assert row["down_seconds"] == 7200 and row["served_seconds"] == 31 * 86400
    assert row["availability_percent"] == "99.731"  # 1 - 7200 / 2678400, rounded down
    assert "99.731%" in kefu("availability", "--month", "2026-03").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--from", "2026-03-02T10:00+08:00", "--to", "2026-03-02T11:00+08:00", "--reason", "x"),
        ("--from", "2026-03-02T10:00", "--to", "2026-03-02T11:00+08:00", "--reason", "x", "--all"),
        ("--from", "2026-03-02T10:00+08:00", "--to", "2026-03-02T09:00+08:00", "--reason", "x",
         "--all"),
        ("--from", "2026-03-02T10:00+08:00", "--to", "2999-01-01T00:00+08:00", "--reason", "x",
         "--all"),
        ("--from", "2026-03-02T10:00+08:00", "--to", "2026-03-02T11:00+08:00", "--reason", "x",
         "--all", "--licensee", "{lic}"),
    ],
)  # fmt: skip
def test_bad_outages_are_clear_errors_and_record_nothing(kefu: Kefu, args: tuple[str, ...]) -> None:
    lic = create(kefu, "--start", "2026-01-01")
    result = kefu("outage", "add", *(a.format(lic=lic) for a in args), ok=False)
    assert_clean_error(result)
    assert result.exit_code == 2
    assert one_json(kefu("outage", "list", "--json")) == {"outages": []}
    bad_month = kefu("availability", "--month", "2026-3", ok=False)
    assert_clean_error(bad_month)


def test_archive_run_and_list(kefu: Kefu) -> None:
    lic = create(kefu, "--start", "2024-01-01", "--end", "2024-12-31")
    assert one_json(kefu("archive", "list", "--json"))["closures"] == []
    run = one_json(kefu("archive", "run", "--json"))
    assert run == {"revoked": [lic], "archived": [lic], "purged": [lic]}
    listed = one_json(kefu("archive", "list", "--json"))
    [closure] = listed["closures"]
    assert closure["licensee"] == lic and closure["archive"].endswith(f"{lic}-2024-12-31.zip")
    assert len(closure["sha256"]) == 64 and closure["purged_at"]
    assert show(kefu, lic)["status"] == "revoked"
    refused = kefu("licensee", "renew", lic, "--end", "2099-01-01", ok=False)
    assert_clean_error(refused)
    assert refused.exit_code == 4 and "purged" in refused.stderr
