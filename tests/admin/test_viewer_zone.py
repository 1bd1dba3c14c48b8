"""Times in the reader's own zone: a licensee's users read their licensee's time zone, the
licensor's staff a zone of their own (default Asia/Shanghai, set beside their password). The
operations page, the audit log and its CSV show and read times in it, the zone named beside."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from core import audit
from core.accounts import Role
from core.db.engine import Database
from core.db.tables import AuditEntry, Licensee, MaintenanceWindow, User
from testkit.admin import Browser, csrf_of, make_user, sign_in
from testkit.conversations import Exchange, chat
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.postgres

# Winter in Berlin (UTC+1), Shanghai (UTC+8) and New York (UTC-5).
STORED = datetime(2027, 1, 15, 6, 30, tzinfo=UTC)


def _signed_in(browser: Browser, user: User) -> TestClient:
    client = browser()
    assert sign_in(client, user.email).status_code == 303
    client.headers["X-CSRF-Token"] = csrf_of(client.get("/admin/password").text)
    return client


def _set_zone(client: TestClient, zone: str) -> None:
    saved = client.post("/admin/profile/timezone", data={"timezone": zone})
    assert saved.status_code == 303, saved.text
    assert "时区已保存" in client.get(saved.headers["location"]).text


def _window(db: Database) -> None:
    with db.session() as s:
        s.add(
            MaintenanceWindow(
                id="mw_zone",
                licensee_id=None,
                starts_at=STORED,
                ends_at=STORED.replace(hour=8),
                text="升级",
                created_at=STORED,
            )
        )
        s.commit()


def test_one_stored_instant_reads_in_each_viewers_zone(
    db: Database, browser: Browser, make_tenant: MakeTenant
) -> None:
    _window(db)
    shanghai = _signed_in(browser, make_user(db, Role.OWNER))
    berlin = _signed_in(browser, make_user(db, Role.SUPPORT))
    _set_zone(berlin, "Europe/Berlin")
    seen_sh = shanghai.get("/admin/operations").text
    seen_be = berlin.get("/admin/operations").text
    assert "2027-01-15 14:30" in seen_sh and "Asia/Shanghai" in seen_sh
    assert "2027-01-15 07:30" in seen_be and "Europe/Berlin" in seen_be
    assert "2027-01-15 14:30" not in seen_be
    # A licensee's admin reads its licensee's zone (the audit log is what it may see).
    lic = make_tenant().licensee
    with db.session() as s:
        row = s.get(Licensee, lic.id)
        assert row is not None
        row.timezone = "America/New_York"
        s.add(row)
        audit.record(
            s,
            actor=None,
            action="licensee.updated",
            target=lic.id,
            before=None,
            after={"x": 1},
            now=STORED,
            licensee_id=lic.id,
        )
        s.commit()
    admin = _signed_in(browser, make_user(db, Role.ADMIN, licensee_id=lic.id))
    seen_ny = admin.get("/admin/audit").text
    assert "2027-01-15 01:30:00" in seen_ny and "America/New_York" in seen_ny
    assert "2027-01-15 07:30:00" in berlin.get(f"/admin/audit?licensee={lic.id}").text
    # Its own zone is its licensee's: not one it sets.
    assert "America/New_York" in admin.get("/admin/password").text
    refused = admin.post("/admin/profile/timezone", data={"timezone": "Europe/Berlin"})
    assert refused.status_code == 400 and "客户的时区" in refused.text
    me = admin.get("/admin/api/me").json()
    assert me["timezone"] == "America/New_York"
    # The CSV export: ISO 8601 with the reader's offset.
    rows = list(csv.reader(io.StringIO(berlin.get(f"/admin/audit.csv?licensee={lic.id}").text)))
    assert rows[1][0] == "2027-01-15T07:30:00+01:00"
    rows = list(csv.reader(io.StringIO(admin.get("/admin/audit.csv").text)))
    assert rows[1][0] == "2027-01-15T01:30:00-05:00"


@pytest.mark.parametrize(
    ("zone", "typed_start", "typed_end", "start_utc", "end_utc"),
    [
        # Berlin's clocks go forward at 02:00 on 2027-03-28: 01:30 CET to 03:30 CEST is 1 hour.
        ("Europe/Berlin", "2027-03-28T01:30", "2027-03-28T03:30", (0, 30), (1, 30)),
        ("Asia/Shanghai", "2027-03-28T01:30", "2027-03-28T03:30", (17, 30), (19, 30)),
        ("America/Los_Angeles", "2027-03-28T01:30", "2027-03-28T03:30", (8, 30), (10, 30)),
    ],
)
def test_a_time_typed_in_the_readers_zone_is_stored_as_the_right_instant(
    db: Database,
    browser: Browser,
    zone: str,
    typed_start: str,
    typed_end: str,
    start_utc: tuple[int, int],
    end_utc: tuple[int, int],
) -> None:
    owner = _signed_in(browser, make_user(db, Role.OWNER))
    if zone != "Asia/Shanghai":
        _set_zone(owner, zone)
    page = owner.get("/admin/operations").text
    assert f"{zone}" in page
    made = owner.post(
        "/admin/operations/maintenance",
        data={"starts_at": typed_start, "ends_at": typed_end, "text": "升级"},
    )
    assert made.status_code == 303, made.text
    with db.read_session() as s:
        window = s.exec(select(MaintenanceWindow)).one()
    day = 27 if zone == "Asia/Shanghai" else 28
    assert window.starts_at == datetime(2027, 3, day, *start_utc, tzinfo=UTC)
    assert window.ends_at == datetime(2027, 3, day, *end_utc, tzinfo=UTC)
    # The audit log's days are the reader's too: the entry is on the day it was typed in.
    today = owner.get("/admin/audit?action=maintenance.announced").text
    assert "maintenance.announced" in today


def test_a_staff_members_zone_is_checked_and_logged(db: Database, browser: Browser) -> None:
    owner_user = make_user(db, Role.OWNER)
    owner = _signed_in(browser, owner_user)
    bad = owner.post("/admin/profile/timezone", data={"timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and "未知时区" in bad.text
    api = owner.patch("/admin/api/me", json={"timezone": "Asia/Tokyo"})
    assert api.status_code == 200 and api.json()["timezone"] == "Asia/Tokyo"
    assert owner.get("/admin/api/me").json()["timezone"] == "Asia/Tokyo"
    with db.read_session() as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "user.timezone_changed")).one()
    assert entry.before == {"timezone": "Asia/Shanghai"}
    assert entry.after == {"timezone": "Asia/Tokyo"}
    assert entry.target == owner_user.id


def test_conversations_read_in_the_readers_zone(
    db: Database, browser: Browser, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id  # its zone: Asia/Shanghai
    # 2027-01-15 23:30 in Berlin, already 2027-01-16 06:30 in Shanghai.
    started = datetime(2027, 1, 15, 22, 30, tzinfo=UTC)
    conversation = chat(db, lic, started, [Exchange("几点发货？", "下午四点前下单当天发。")])
    shanghai = _signed_in(browser, make_user(db, Role.OWNER))
    berlin = _signed_in(browser, make_user(db, Role.SUPPORT))
    _set_zone(berlin, "Europe/Berlin")
    assert "2027-01-16 06:30:00" in shanghai.get(f"/admin/conversations/{conversation}").text
    seen = berlin.get(f"/admin/conversations/{conversation}").text
    assert "2027-01-15 23:30:00" in seen and "Europe/Berlin" in seen
    # The days of a search are the reader's: the 15th in Berlin, the 16th in Shanghai.
    day = "/admin/api/conversations?licensee={lic}&start={d}&end={d}"
    found = berlin.get(day.format(lic=lic, d="2027-01-15")).json()
    assert [c["id"] for c in found["conversations"]] == [conversation]
    assert found["timezone"] == "Europe/Berlin"
    assert berlin.get(day.format(lic=lic, d="2027-01-16")).json()["conversations"] == []
    found = shanghai.get(day.format(lic=lic, d="2027-01-16")).json()
    assert [c["id"] for c in found["conversations"]] == [conversation]
