"""In Chromium against a real server: issue a statement and download its PDF, read a chart;
screenshots of the statements and reports pages at 1,280 and 390 px, in Chinese and English."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from core.accounts import Role
from core.billing.issued import issue_month, save_draft
from core.billing.payments import record_payment
from core.db.engine import Database
from core.db.tables import Conversation, Handoff
from core.licensing.licensees import get_licensee
from core.reporting.daily import rebuild
from testkit.admin import PASSWORD, make_user
from testkit.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Watch, playwright_api
from testkit.reporting import key_of, message, model_call, rate, start_conversation
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
expect = playwright_api.expect
MONTH = "2026-11"
START = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 1 November in Shanghai


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def month_of_traffic(db: Database, make_tenant: MakeTenant) -> list[str]:
    """Three shops with a month of conversations, answers, ratings and model calls."""
    made = []
    for n, (name, per_day) in enumerate(
        (("鲜花小铺 Flower Shop", 9), ("Acme 商城", 5), ("书店", 2))
    ):
        lic = make_tenant(
            name, now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 1)
        ).licensee.id
        with db.session() as s:
            key = key_of(s, lic)
            for day in range(30):
                for i in range(per_day + (day * 7 + n) % 5):
                    at = START + timedelta(days=day, hours=2 + i, minutes=n)
                    conv = start_conversation(s, lic, key, at, test=i % 11 == 10)
                    message(s, conv, lic, 1, "visitor", at)
                    wait = timedelta(milliseconds=300 + 150 * ((day + i) % 9))
                    sources = [] if (day + i) % 6 == 0 else [{"id": "kb", "question": "q"}]
                    message(s, conv, lic, 2, "robot", at + wait, sources)
                    if i % 3 == 0:
                        rate(s, conv, lic, 5 - (day + i) % 4, at + timedelta(minutes=20))
                    model_call(s, lic, at, Decimal("0.0021"))
            s.commit()
        made.append(lic)
    with db.session() as s:
        rebuild(s, datetime(2026, 12, 2, tzinfo=UTC))
        s.commit()
    return made


def hand_offs(db: Database, lic: str) -> None:
    """Every fifth conversation of the shop asks for a person; three agents take them, after a
    wait and a first reply that vary by day."""
    agents = [
        make_user(db, Role.AGENT, licensee_id=lic, name=name).id
        for name in ("小王 Wang", "小李 Li", "Anna")
    ]
    with db.session() as s:
        rows = s.exec(
            select(col(Conversation.id), col(Conversation.started_at))
            .where(col(Conversation.licensee_id) == lic)
            .order_by(col(Conversation.started_at))
        ).all()
        for n, (conv, at) in enumerate(rows[::5]):
            queued = at + timedelta(minutes=1)
            assigned = queued + timedelta(seconds=20 + (n * 37) % 100)
            s.add(
                Handoff(
                    id=f"ho_{n}", conversation_id=conv, licensee_id=lic, visitor_id=f"v_{n}",
                    status="closed", requested_at=queued, queued_at=queued,
                    assigned_at=assigned, agent_id=agents[n % 5 % 3],
                    first_response_at=assigned + timedelta(seconds=3 + (n * 13) % 20),
                )
            )  # fmt: skip
        rebuild(s, datetime(2026, 12, 2, tzinfo=UTC))
        s.commit()


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin")


def test_issue_a_statement_download_its_pdf_and_read_a_chart(
    chromium: Any, live: LiveServer, db: Database, make_tenant: MakeTenant
) -> None:
    shops = month_of_traffic(db, make_tenant)
    hand_offs(db, shops[0])
    owner = make_user(db, Role.OWNER, name="店主 Owner")
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(page)
        sign_in(page, live.url, owner.email)
        page.click("nav >> text=结算单")
        page.fill("input[name=month]", MONTH)
        page.click("form.range-form button")
        page.click("text=鲜花小铺 Flower Shop")
        page.click(f"a[href='/admin/statements/{shops[0]}/{MONTH}']")
        expect(page.locator(".figures")).to_contain_text("草稿")
        page.click("button:has-text('出具结算单')")
        expect(page.locator("p.notice")).to_contain_text("结算单已出具")
        number = page.locator("h1 small").inner_text()
        assert number.startswith("2026-")
        with page.expect_download() as download:
            page.click("a:has-text('PDF')")
        saved = download.value
        assert saved.suggested_filename == f"statement-{number}.pdf"
        assert Path(saved.path()).read_bytes().startswith(b"%PDF")

        page.click("nav >> text=报表")
        page.fill("input[name=month]", MONTH)
        page.click("form.range-form >> nth=0 >> button")
        first = page.locator("svg.chart").first
        expect(first).to_have_attribute("aria-label", "每日对话")
        # Reading the chart: each bar carries its day and value; the first day's bar holds all
        # three shops' conversations of 1 November.
        bar = first.locator("rect title").first
        label = bar.text_content() or ""
        assert label.startswith("2026-11-01 对话数: "), label
        shown = int(label.rsplit(": ", 1)[1])
        assert shown == (9 + 0) + (5 + 1) + (2 + 2)  # per_day + (0 * 7 + n) % 5 of each shop
        assert watch.errors == [] and watch.dialogs == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_screenshots(
    chromium: Any,
    live: LiveServer,
    db: Database,
    make_tenant: MakeTenant,
    width: int,
    lang: str,
) -> None:
    shops = month_of_traffic(db, make_tenant)
    now = datetime(2026, 12, 4, 2, tzinfo=UTC)
    with db.session() as s:  # as the billing job leaves a month: drafts, one issued and paid
        for lic in shops[1:]:
            save_draft(s, get_licensee(s, lic), MONTH, now)
        issued = issue_month(s, shops[2], MONTH, now).statement
        record_payment(s, issued, Decimal("10.00"), date(2026, 12, 4), now, "BANK-0042")
        s.commit()
    hand_offs(db, shops[0])
    owner = make_user(db, Role.OWNER, name="店主 Owner")
    context = chromium.new_context(
        locale="zh-CN" if lang == "zh" else "en",
        viewport={"width": width, "height": 900 if width > 480 else 844},
        device_scale_factor=1,
        is_mobile=width < 480,
        has_touch=width < 480,
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(page)
        sign_in(page, live.url, owner.email)
        ARTIFACTS.mkdir(exist_ok=True)
        for name, path in (
            ("statements", f"/admin/statements?month={MONTH}"),
            ("statement", f"/admin/statements/{shops[0]}/{MONTH}"),
            ("reports", f"/admin/reports?month={MONTH}"),
            ("report", f"/admin/reports/{shops[0]}?month={MONTH}"),
        ):
            page.goto(f"{live.url}{path}{'&' if '?' in path else '?'}lang={lang}")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (name, overflow)  # nothing wider than the screen
            page.screenshot(
                path=str(ARTIFACTS / f"console-{name}-{width}-{lang}.png"), full_page=True
            )
        # The one licensee's hand-off charts (the report's last three), on their own.
        boxes = [page.locator("figure.chart-box").nth(-k).bounding_box() for k in (3, 1)]
        assert boxes[0] is not None and boxes[1] is not None
        page.screenshot(
            path=str(ARTIFACTS / f"console-report-handoff-{width}-{lang}.png"),
            full_page=True,
            clip={
                "x": 0,
                "y": boxes[0]["y"] - 8,
                "width": width,
                "height": boxes[1]["y"] + boxes[1]["height"] - boxes[0]["y"] + 16,
            },
        )
        assert watch.errors == [] and watch.dialogs == []
    finally:
        context.close()
