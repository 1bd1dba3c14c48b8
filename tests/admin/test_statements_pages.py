"""The statements pages and API on the billing services: a month's list, a draft issued, a
payment and a note recorded (each audited), downloads; who may do what; formula-safe exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlmodel import col, select
from starlette.testclient import TestClient

from core.accounts import Role
from core.billing.accounts import account
from core.db.engine import Database
from core.db.tables import AuditEntry, Licensee, Payment, Statement
from testkit.admin import csrf_of, make_user, sign_in
from testkit.billing import add_units
from testkit.tenants import MakeTenant

MONTH = "2026-11"
NOV = datetime(2026, 11, 10, 4, tzinfo=UTC)
INJECTION = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def clients(app: FastAPI) -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        client.close()


def signed_in(app: FastAPI, made: list[TestClient], email: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    made.append(client)
    assert sign_in(client, email).status_code == 303
    return client, csrf_of(client.get("/admin/password").text)


def shop(db: Database, make_tenant: MakeTenant, name: str) -> str:
    lic = make_tenant(
        name, now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 1)
    ).licensee.id
    add_units(db, lic, [NOV + timedelta(hours=i) for i in range(3)])
    return lic


def statements(db: Database, lic: str) -> list[Statement]:
    with db.read_session() as s:
        return list(s.exec(select(Statement).where(Statement.licensee_id == lic)))


def test_owner_issues_pays_notes_and_downloads(
    db: Database, app: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    lic = shop(db, make_tenant, "商店 A")
    owner = make_user(db, Role.OWNER)
    web, csrf = signed_in(app, clients, owner.email)

    listing = web.get(f"/admin/statements?month={MONTH}&lang=en")
    assert listing.status_code == 200 and "商店 A" in listing.text
    assert "no draft saved yet" in listing.text
    draft = web.get(f"/admin/statements/{lic}/{MONTH}?lang=zh")
    assert draft.status_code == 200
    assert "草稿" in draft.text and "1.50" in draft.text  # 3 units at 0.50
    assert web.post(f"/admin/statements/{lic}/{MONTH}/issue").status_code == 403  # no CSRF
    done = web.post(f"/admin/statements/{lic}/{MONTH}/issue", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=issued")
    [issued] = statements(db, lic)
    assert issued.status == "issued" and issued.total == Decimal("1.50")
    again = web.post(f"/admin/statements/{lic}/{MONTH}/issue", data={"csrf_token": csrf})
    assert again.status_code == 409 and "已出具" in again.text

    number = web.get(f"/admin/api/statements/{lic}/{MONTH}").json()["number"]
    too_much = web.post(
        f"/admin/statements/{lic}/{number}/payments",
        data={"csrf_token": csrf, "amount": "99.00"},
    )
    assert too_much.status_code == 400 and "超过账单" in too_much.text
    paid = web.post(
        f"/admin/statements/{lic}/{number}/payments",
        data={"csrf_token": csrf, "amount": "1.00", "reference": "BANK-1"},
    )
    assert paid.status_code == 303
    noted = web.post(
        f"/admin/statements/{lic}/notes",
        data={"csrf_token": csrf, "amount": "-0.20", "reason": INJECTION, "corrects": number},
    )
    assert noted.status_code == 303
    page = web.get(f"/admin/statements/{lic}/{number}?lang=en")
    assert "partly paid" in page.text and "0.50" in page.text
    with db.read_session() as s:
        [payment] = s.exec(select(Payment).where(Payment.licensee_id == lic)).all()
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.at))).all()]
    assert payment.amount == 1 and payment.reference == "BANK-1"
    assert [a for a in actions if a.startswith("statement.")] == [
        "statement.issue",
        "statement.payment",
        "statement.note",
    ]

    pdf = web.get(f"/admin/statements/{lic}/{number}/download/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    detail = web.get(f"/admin/statements/{lic}/{number}/download/detail.csv")
    assert detail.status_code == 200 and detail.text.count("\n") == 4  # header + 3 units
    assert web.get(f"/admin/statements/{lic}/{number}/download/exe").status_code == 404


def test_exports_neutralise_formulas(
    db: Database, app: FastAPI, clients: list[TestClient], make_tenant: MakeTenant
) -> None:
    lic = shop(db, make_tenant, "Shop F")
    with db.session() as s:
        row = account(s, lic, datetime(2026, 12, 1, tzinfo=UTC))
        row.invoice_title = INJECTION
        s.add(row)
        s.commit()
    owner = make_user(db, Role.OWNER)
    web, csrf = signed_in(app, clients, owner.email)
    assert (
        web.post(
            f"/admin/statements/{lic}/notes",
            data={"csrf_token": csrf, "amount": "-0.10", "reason": "@SUM(A1:A9)"},
        ).status_code
        == 303
    )
    csv_text = web.get(f"/admin/statements/{lic}/{MONTH}/download/csv").text
    cells = [c for row in csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))) for c in row]
    assert "'" + INJECTION in cells  # the customer's invoice title, neutralised
    assert not [c for c in cells if c.lstrip(" ").startswith(("=", "+", "@"))]
    book = load_workbook(
        io.BytesIO(web.get(f"/admin/statements/{lic}/{MONTH}/download/xlsx").content)
    )
    cells = [str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert any(v.startswith("'=HYPERLINK") for v in cells)
    assert not any(v.startswith(("=", "@")) for v in cells)
    with db.session() as s:
        renamed = s.get(Licensee, lic)
        assert renamed is not None
        renamed.name = "+SUM(1,2)"
        s.add(renamed)
        s.commit()
    report = web.get(f"/admin/reports.csv?month={MONTH}").text
    cells = [c for row in csv.reader(io.StringIO(report.lstrip("\ufeff"))) for c in row]
    assert "'+SUM(1,2)" in cells and "+SUM(1,2)" not in cells


@pytest.mark.parametrize(
    "who, expected",
    [
        # (A's statement page, A's PDF, A's API statement, month list, issue A's month)
        ("owner", (200, 200, 200, 200, 303)),
        ("billing", (200, 200, 200, 200, 303)),
        ("support", (200, 200, 200, 200, 403)),
        ("admin_a", (200, 200, 200, 303, 403)),
        ("agent_a", (403, 403, 403, 403, 403)),
        ("admin_b", (404, 404, 404, 303, 403)),
        ("agent_b", (403, 403, 403, 403, 403)),
    ],
)
def test_who_sees_and_changes_statements(
    db: Database,
    app: FastAPI,
    clients: list[TestClient],
    make_tenant: MakeTenant,
    who: str,
    expected: tuple[int, ...],
) -> None:
    a = shop(db, make_tenant, "Shop A")
    b = shop(db, make_tenant, "Shop B")
    role, licensee = {
        "owner": (Role.OWNER, None),
        "billing": (Role.BILLING, None),
        "support": (Role.SUPPORT, None),
        "admin_a": (Role.ADMIN, a),
        "agent_a": (Role.AGENT, a),
        "admin_b": (Role.ADMIN, b),
        "agent_b": (Role.AGENT, b),
    }[who]
    user = make_user(db, role, licensee_id=licensee)
    web, csrf = signed_in(app, clients, user.email)
    got = (
        web.get(f"/admin/statements/{a}/{MONTH}").status_code,
        web.get(f"/admin/statements/{a}/{MONTH}/download/pdf").status_code,
        web.get(f"/admin/api/statements/{a}/{MONTH}").status_code,
        web.get(f"/admin/statements?month={MONTH}").status_code,
        web.post(f"/admin/statements/{a}/{MONTH}/issue", data={"csrf_token": csrf}).status_code,
    )
    assert got == expected
    for path in (f"/admin/api/statements/{a}", f"/admin/statements/{a}"):
        status = web.get(path).status_code
        assert status == {403: 403, 404: 404}.get(expected[0], 200), (path, status)
    note = web.post(
        f"/admin/api/statements/{a}/notes",
        json={"amount": "-1", "reason": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert note.status_code == (200 if role in (Role.OWNER, Role.BILLING) else 403)
    if expected[4] != 303:  # refused: nothing changed
        assert all(s.status == "draft" for s in statements(db, a))
        with db.read_session() as s:
            assert not s.exec(select(AuditEntry).where(AuditEntry.licensee_id == a)).all()
