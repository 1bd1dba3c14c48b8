"""The three downloads of one statement carry the same numbers: CSV, XLSX and PDF (its text
read back with pdftotext, its page drawn with pdftoppm)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from core.billing import issued
from core.billing.downloads import Format, render
from core.billing.payments import add_note
from core.billing.prices import set_price
from core.billing.views import month_view
from core.db.engine import Database
from core.licensing.licensees import get_licensee
from core.settings import Settings
from testkit.billing import add_units
from testkit.tenants import MakeTenant

SH = ZoneInfo("Asia/Shanghai")
SETTINGS = Settings(
    billing_payee_name="杭州客服科技有限公司",
    billing_payee_bank="中国工商银行杭州分行",
    billing_payee_account="1202 0000 0000 0000 000",
)


def rendered(db: Database, lid: str, fmt: Format) -> bytes:
    with db.read_session() as session:
        lic = get_licensee(session, lid)
        view = month_view(session, lic, "2026-11", datetime(2026, 12, 6, tzinfo=UTC))
        return b"".join(render(session, lic, view, fmt, SETTINGS))


@pytest.fixture
def statement(db: Database, make_tenant: MakeTenant) -> str:
    lid = make_tenant(
        "上海示例贸易有限公司",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        unit_price=Decimal("0.50"),
    ).licensee.id
    with db.session() as session:
        set_price(session, lid, Decimal("0.45"), date(2026, 11, 16))
        add_note(
            session,
            lid,
            Decimal("-3.20"),
            "系统故障补偿 outage credit",
            datetime(2026, 11, 20, tzinfo=UTC),
        )
        session.commit()
    add_units(db, lid, [datetime(2026, 11, 3, 9, tzinfo=SH)] * 1234)
    add_units(db, lid, [datetime(2026, 11, 20, 9, tzinfo=SH)] * 567)
    with db.session() as session:
        issued.issue_month(session, lid, "2026-11", datetime(2026, 12, 3, tzinfo=UTC))
        session.commit()
    return lid


def test_csv_xlsx_and_pdf_say_the_same(db: Database, statement: str, tmp_path: Path) -> None:
    # 1234 x 0.50 = 617.00; 567 x 0.45 = 255.15; less 3.20 = 868.95.
    total, capital = "868.95", "捌佰陆拾捌元玖角伍分"
    rows = list(csv.reader(io.StringIO(rendered(db, statement, Format.CSV).decode("utf-8-sig"))))
    amounts = [r[4] for r in rows if len(r) == 5][1:]
    assert amounts == ["255.15", "617.00", "-3.20", total]  # usage lines by price
    facts = {r[0]: r[1] for r in rows if len(r) == 2}
    assert facts["合计（大写） Total in Chinese capitals"] == capital
    sha = facts["明细 SHA-256 Detail SHA-256"]
    assert re.fullmatch(r"[0-9a-f]{64}", sha)

    book = load_workbook(io.BytesIO(rendered(db, statement, Format.XLSX)), read_only=True)
    sheet = [r for r in book.worksheets[0].iter_rows(values_only=True)]
    xlsx_amounts = [r[4] for r in sheet if len(r) >= 5 and isinstance(r[4], (int, float))]
    assert [Decimal(str(a)).quantize(Decimal("0.01")) for a in xlsx_amounts] == [
        Decimal(a) for a in amounts
    ]
    xlsx_facts = {r[0]: r[1] for r in sheet if len(r) >= 2}
    assert xlsx_facts["明细 SHA-256 Detail SHA-256"] == sha
    assert sum(1 for _ in book.worksheets[1].iter_rows()) == 1 + 1234 + 567

    pdf = tmp_path / "statement.pdf"
    pdf.write_bytes(rendered(db, statement, Format.PDF))
    assert pdf.read_bytes() == rendered(db, statement, Format.PDF)  # reproducible bytes
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for figure in [*amounts, "1,234", "567", "1,801", capital, sha, "2026-12-05", "2026-11"]:
        assert figure in text, figure
    for words in [
        "月度使用费结算单",
        "上海示例贸易有限公司",
        "杭州客服科技有限公司",
        "核对无误",
        "中国工商银行杭州分行",
    ]:
        assert words in text
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-singlefile", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    png = (tmp_path / "page.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_the_tools_are_there() -> None:
    # The PDF checks above need poppler (scripts/ensure-services installs it).
    assert shutil.which("pdftotext") and shutil.which("pdftoppm")
