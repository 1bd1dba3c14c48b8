"""The licensee API ``/v1/statements`` against a real server, on both databases: JSON, the CSV,
detail CSV, XLSX and PDF downloads with the same numbers, the secret key, bad months."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from openpyxl import load_workbook

from core.billing.issued import issue_month
from core.billing.payments import add_note
from core.spreadsheet import is_formula
from testkit.billing import add_units
from testkit.servers import LiveServer
from testkit.tenants import make_tenant

SH = ZoneInfo("Asia/Shanghai")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def test_statements_over_the_api(live: LiveServer) -> None:
    db = live.services.db
    tenant = make_tenant(
        db,
        "=SUM(A1) Shop",  # the payer's name on the statement: must not become a formula
        now=datetime(2026, 1, 1, tzinfo=UTC),
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        unit_price=Decimal("0.45"),
    )
    lid = tenant.licensee.id
    add_units(db, lid, [datetime(2026, 10, d, 12, tzinfo=SH) for d in range(1, 8)])
    add_units(db, lid, [datetime(2026, 10, 3, tzinfo=SH)], test=True)
    with db.session() as session:
        add_note(session, lid, Decimal("-0.15"), '=HYPERLINK("x") 补偿', datetime.now(UTC))
        issue_month(session, lid, "2026-10", datetime(2026, 11, 3, tzinfo=UTC))
        session.commit()
    auth = {"Authorization": f"Bearer {tenant.keys.secret_key}"}
    with httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get("/v1/statements").status_code == 401
        assert (
            client.get(
                "/v1/statements", headers={"Authorization": "Bearer " + tenant.keys.site_key}
            ).status_code
            == 401
        )
        listed = client.get("/v1/statements", headers=auth).json()
        assert listed == [
            {
                "month": "2026-10",
                "kind": "usage",
                "number": listed[0]["number"],
                "status": "overdue",  # due 5 November; it is later now
                "total": "3.00",
                "due_date": "2026-11-05",
            }
        ]
        doc = client.get("/v1/statements/2026-10", headers=auth).json()
        assert doc["units"] == 7 and doc["usage_amount"] == "3.15" and doc["total"] == "3.00"
        assert doc["currency"] == "CNY" and doc["number"].startswith("2026-")
        # November is not over: a draft, computed now, with no number.
        draft = client.get("/v1/statements/2026-11", headers=auth).json()
        assert draft["status"] == "draft" and draft["number"] is None
        assert client.get("/v1/statements/2026-13", headers=auth).status_code == 400
        assert client.get("/v1/statements/2099-01", headers=auth).status_code == 404
        assert client.get("/v1/statements/2026-10.doc", headers=auth).status_code == 400

        detail = client.get("/v1/statements/2026-10.detail.csv", headers=auth)
        assert detail.content.startswith(b"\xef\xbb\xbf")
        assert hashlib.sha256(detail.content).hexdigest() == doc["detail_sha256"]
        assert len(list(csv.reader(io.StringIO(detail.content.decode("utf-8-sig"))))) == 1 + 7

        text_csv = client.get("/v1/statements/2026-10.csv", headers=auth)
        assert text_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(text_csv.content.decode("utf-8-sig"))))
        assert ["合计 Total", "", "", "", "3.00"] in rows
        assert any(
            r[:1] == ["合计（大写） Total in Chinese capitals"] and r[1] == "叁元整" for r in rows
        )
        assert ["付款方 Payer", "'=SUM(A1) Shop"] in rows  # neutralised, never a formula
        # A negative amount is a number to a spreadsheet, not a formula; no text cell may be one.
        formulas = [c for r in rows for c in r if is_formula(c) and not NUMBER.fullmatch(c)]
        assert formulas == []

        xlsx = client.get("/v1/statements/2026-10.xlsx", headers=auth)
        book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
        first = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        assert ["合计 Total", None, None, None, 3] in [
            [*r[:4], r[4] if len(r) > 4 else None] for r in first
        ]
        assert sum(1 for _ in book.worksheets[1].iter_rows()) == 1 + 7

        pdf = client.get("/v1/statements/2026-10.pdf", headers=auth)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
