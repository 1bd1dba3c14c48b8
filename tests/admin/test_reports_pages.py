"""The reports pages and API read the daily figures: totals, SVG charts, money for the
licensor only, a licensee's own figures only, ranges checked."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlmodel import col, select
from starlette.testclient import TestClient

from core.accounts import Role
from core.db.engine import Database
from core.db.tables import Conversation, Handoff
from core.reporting.daily import rebuild
from core.reporting.latency import BOUNDS_MS, bucket_of
from testkit.admin import make_user, sign_in
from testkit.reporting import key_of, message, model_call, rate, start_conversation
from testkit.tenants import MakeTenant

T0 = datetime(2026, 11, 3, 2, tzinfo=UTC)  # 10:00 in Shanghai
SOURCE = [{"id": "kb_1", "question": "q"}]


@pytest.fixture
def clients(app: FastAPI) -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        client.close()


def signed_in(app: FastAPI, made: list[TestClient], email: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    made.append(client)
    assert sign_in(client, email).status_code == 303
    return client


def traffic(db: Database, make_tenant: MakeTenant, name: str, n: int) -> str:
    lic = make_tenant(
        name, now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 1)
    ).licensee.id
    with db.session() as s:
        key = key_of(s, lic)
        for i in range(n):
            at = T0 + timedelta(days=i % 3, minutes=i)
            conv = start_conversation(s, lic, key, at)
            message(s, conv, lic, 1, "visitor", at)
            message(s, conv, lic, 2, "robot", at + timedelta(seconds=1), SOURCE if i % 4 else [])
            rate(s, conv, lic, 1 + i % 5, at + timedelta(hours=1))
            model_call(s, lic, at, Decimal("0.01"))
        rebuild(s, datetime(2026, 12, 1, tzinfo=UTC))
        s.commit()
    return lic


def test_the_licensor_sees_every_licensee_with_charts_cost_and_margin(
    db: Database, app: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    a = traffic(db, make_tenant, "Shop <A>", 8)
    traffic(db, make_tenant, "Shop B", 4)
    web = signed_in(app, clients, make_user(db, Role.SUPPORT).email)
    page = web.get("/admin/reports?month=2026-11&lang=en")
    assert page.status_code == 200
    html = page.text
    assert "Shop &lt;A&gt;" in html and "<A>" not in html
    assert html.count("<svg") == 6  # conversations, answers, latency, ratings, hand-offs, cost
    for svg in html.split("<svg")[1:]:
        ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")
    assert "Cost and margin per licensee" in html and "Token packages" in html
    data = web.get("/admin/api/reports?month=2026-11").json()
    assert data["conversations"] == 12 and data["answered"] == 9 and data["dont_know"] == 3
    assert sum(data["ratings"]) == 12 and len(data["days"]) == 30
    line = next(x for x in data["licensees"] if x["licensee_id"] == a)
    # 8 units at 0.50 = 4.00 revenue, 8 calls at 0.01: margin 3.92
    assert (line["revenue"], line["cost"], line["margin"]) == ("4.00", {"CNY": "0.08"}, "3.92")
    one = web.get(f"/admin/api/reports/{a}?from=2026-11-03&to=2026-11-03").json()
    assert one["conversations"] == 3 and one["p50_ms"] == BOUNDS_MS[bucket_of(1000)]
    zh = web.get(f"/admin/reports/{a}?from=2026-11-01&to=2026-11-30&lang=zh").text
    assert "每日对话" in zh and "可用率" in zh


def test_a_licensee_admin_sees_its_own_figures_without_money(
    db: Database, app: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    a = traffic(db, make_tenant, "Shop A", 5)
    b = traffic(db, make_tenant, "Shop B", 2)
    web = signed_in(app, clients, make_user(db, Role.ADMIN, licensee_id=a).email)
    data = web.get("/admin/api/reports?month=2026-11").json()
    assert data["licensee_id"] == a and data["conversations"] == 5
    assert data["packages"] == [] and all(d["model_cost"] is None for d in data["days"])
    assert all(x["revenue"] is None and x["cost"] is None for x in data["licensees"])
    page = web.get("/admin/reports?month=2026-11&lang=en").text
    assert "Model cost" not in page and "Margin" not in page and page.count("<svg") == 8
    assert web.get(f"/admin/reports/{b}").status_code == 404
    assert web.get(f"/admin/api/reports/{b}").status_code == 404
    assert web.get("/admin/reports/lic_none").status_code == 404
    csv_text = web.get("/admin/reports.csv?month=2026-11").text
    assert csv_text.count("\n") == 31  # header and one line per day of November
    agent = signed_in(app, clients, make_user(db, Role.AGENT, licensee_id=a).email)
    assert agent.get("/admin/reports").status_code == 403
    assert agent.get("/admin/api/reports").status_code == 403


def test_hand_off_charts_per_licensee_from_the_daily_figures(
    db: Database, app: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    a = traffic(db, make_tenant, "Shop A", 8)
    agent = make_user(db, Role.AGENT, licensee_id=a, name="小王 <Wang>")
    with db.session() as s:
        convs = s.exec(
            select(col(Conversation.id), col(Conversation.started_at))
            .where(col(Conversation.licensee_id) == a)
            .order_by(col(Conversation.started_at))
        ).all()
        # Two of the eight asked for a person: 30 s and 90 s waits, first replies after 4 s and
        # 6 s (then 5.0 s on average); one by the agent, one by a user since removed.
        for n, ((conv, at), who) in enumerate(zip(convs[:2], (agent.id, "u_gone"), strict=True)):
            queued = at + timedelta(minutes=1)
            assigned = queued + timedelta(seconds=30 + 60 * n)
            s.add(
                Handoff(
                    id=f"ho_{n}", conversation_id=conv, licensee_id=a, visitor_id=f"v_{n}",
                    status="closed", requested_at=queued, queued_at=queued,
                    assigned_at=assigned, agent_id=who, agent_name=f"Agent {n}",
                    first_response_at=assigned + timedelta(seconds=4 + 2 * n),
                )
            )  # fmt: skip
        rebuild(s, datetime(2026, 12, 1, tzinfo=UTC))
        s.commit()
    support = signed_in(app, clients, make_user(db, Role.SUPPORT).email)
    admin = signed_in(app, clients, make_user(db, Role.ADMIN, licensee_id=a).email)
    for web, path in ((support, f"/admin/reports/{a}"), (admin, "/admin/reports")):
        html = web.get(f"{path}?month=2026-11&lang=en").text
        assert "Hand-off rate per day, % (25.0% over the range)" in html
        assert "Wait / agent&#39;s first reply (mean 60.0 / 5.0) (s)" in html
        assert "Conversations per agent" in html
        assert "小王 &lt;Wang&gt;: 1" in html and "Agent 1: 1" in html and "<Wang>" not in html
        for svg in html.split("<svg")[1:]:
            ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")
    data = admin.get("/admin/api/reports?month=2026-11").json()["handoff"]
    assert data["rate"] == "25.0" and data["taken"] == 2
    assert (data["mean_wait_seconds"], data["mean_first_response_seconds"]) == ("60.0", "5.0")
    assert [a["conversations"] for a in data["agents"]] == [1, 1]
    assert {a["name"] for a in data["agents"]} == {"小王 <Wang>", "Agent 1"}
    zh = admin.get("/admin/reports?month=2026-11&lang=zh").text
    assert "每日转人工率 %（区间内 25.0%）" in zh and "每位客服接待的会话" in zh
    # Every licensee added together has no one licensee's agents: no hand-off charts there.
    assert "Conversations per agent" not in support.get("/admin/reports?month=2026-11&lang=en").text


def test_bad_ranges_are_refused_clearly(
    db: Database, app: FastAPI, clients: list[TestClient]
) -> None:
    web = signed_in(app, clients, make_user(db, Role.OWNER).email)
    for query in (
        "from=2026-11-30&to=2026-11-01",
        "from=2026-13-01",
        "from=2020-01-01&to=2026-01-01",
        "month=2026-13",
        "month=26-1",
    ):
        got = web.get(f"/admin/api/reports?{query}")
        assert got.status_code in (400, 422), (query, got.status_code)
        assert "detail" in got.json()
