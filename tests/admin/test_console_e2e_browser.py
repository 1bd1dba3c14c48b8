"""The console end to end in Chromium against a real server: sign in, create a licensee, add an
origin, import a knowledge base, hit-test a question, fix an unanswered question from the list
and see the widget answer it, issue a statement and download its PDF, read a chart.

A step whose pages this build does not have is reported as skipped (``STEPS_SKIPPED``) rather
than faked; the test fails if a page that exists does not do its part."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.chat.services import build_services
from core.accounts import Role
from core.db.engine import Database
from core.db.tables import Conversation, KeyKind
from core.ids import new_id
from testkit.admin import PASSWORD, make_user
from testkit.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    HostSite,
    Watch,
    ask,
    expect,
    part,
    playwright_api,
    robot_rows,
)
from testkit.servers import run_server, settings_for
from testkit.tenants import key_id

pytestmark = pytest.mark.browser
DEMO_KB = Path(__file__).resolve().parents[2] / "kefu" / "data" / "demo_kb.json"
UNKNOWN = "你们有线下门店吗"
ANSWER = "我们目前只在网上销售，没有线下门店。"
MONTH = "2026-11"
NOVEMBER = datetime(2026, 11, 2, 3, tzinfo=UTC)  # 2 November, 11:00 in Shanghai
STEPS_SKIPPED: list[str] = []


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    """The product with its built-in answerer on SQLite, served by uvicorn on loopback."""
    url = f"sqlite:///{tmp_path}/kefu.db"
    db = Database(url, sqlite_synchronous="NORMAL")
    db.migrate()
    services = build_services(settings_for(url), db)
    for address in run_server(services):
        yield f"http://{address}", db
    db.close()


def exists(base: str, path: str) -> bool:
    """Whether this build serves ``path`` (an unknown console page is 404 before sign-in; a
    known one sends the anonymous visitor to sign in)."""
    return httpx.get(base + path, follow_redirects=False).status_code != 404


def step(base: str, name: str, probe: str) -> bool:
    if exists(base, probe):
        return True
    STEPS_SKIPPED.append(name)
    return False


def widget_answer(chromium: Any, url: str, question: str) -> str:
    """Ask the widget on the host page at ``url`` one question; its answer's text."""
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        watch = Watch(page)
        page.goto(url)
        part(page, "launcher").click()
        expect(part(page, "panel")).to_have_attribute("data-status", "ready")
        ask(page, question)
        row = robot_rows(page).last
        expect(row).to_have_attribute("data-state", "done")
        assert watch.errors == [] and watch.dialogs == []
        return str(row.inner_text())
    finally:
        context.close()


def seed_november(db: Database, licensee_id: str, count: int) -> None:
    """Conversations the widget had in November (the month the statement bills)."""
    key = key_id(db, licensee_id, KeyKind.LIVE)
    with db.session() as s:
        for i in range(count):
            at = NOVEMBER + timedelta(days=i % 3, hours=i)
            s.add(
                Conversation(
                    id=new_id("cnv"),
                    licensee_id=licensee_id,
                    visitor_id=f"nov{i}",
                    key_id=key,
                    started_at=at,
                    last_activity_at=at,
                    ended_at=at + timedelta(minutes=5),
                    end_reason="idle",
                )
            )
        s.commit()
    if importlib.util.find_spec("core.reporting.daily") is not None:
        from core.reporting.daily import rebuild

        with db.session() as s:
            rebuild(s, datetime(2026, 12, 2, tzinfo=UTC))
            s.commit()


def test_an_operator_sets_up_a_licensee_end_to_end(
    chromium: Any, server: tuple[str, Database]
) -> None:
    base, db = server
    owner = make_user(db, Role.OWNER, email="owner@example.com", name="王经理")
    host = HostSite()
    context = chromium.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    STEPS_SKIPPED.clear()
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        watch = Watch(page)

        # Sign in.
        page.goto(f"{base}/admin")
        page.fill("input[name=email]", owner.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin")

        # Create a licensee (its service from 1 November, so November can be billed).
        page.click("nav.nav >> text=客户")
        page.click("text=新建客户")
        page.fill("input[name=name]", "E2E 茶馆")
        page.fill("textarea[name=origins]", "https://shop.example.com")
        page.fill("input[name=unit_price]", "0.50")
        page.fill("input[name=start]", "2026-11-01")
        page.click("form button[type=submit].primary")
        expect(page.locator("h1")).to_contain_text("E2E 茶馆")
        site_key = page.locator("dd.mono").first.inner_text()
        assert site_key.startswith("pk_live_")
        expect(page.locator("pre.snippet").first).to_contain_text(f"widget.js?key={site_key}")
        page.click("text=打开客户页面")
        page.wait_for_url(f"{base}/admin/licensees/lic_*")
        licensee_id = page.url.rsplit("/", 1)[1]

        # Add an origin: the shop's page the widget will run on.
        page.fill("#origins form.row input[name=origin]", host.origin)
        page.click("#origins form.row button[type=submit]")
        page.wait_for_url("**?done=origin_added")
        expect(page.locator("#origins ul")).to_contain_text(host.origin)
        shop = host.page("/shop", f'<script src="{base}/widget.js?key={site_key}" async></script>')

        kb = f"/admin/kb/{licensee_id}"
        if step(base, "import a knowledge base", f"{kb}/import"):
            page.goto(f"{base}{kb}/import")
            page.set_input_files("input[type=file][name=file]", str(DEMO_KB))
            page.click("form button[type=submit].primary")
            expect(page.locator("p.notice")).to_be_visible()
            entries = len(json.loads(DEMO_KB.read_text(encoding="utf-8")))
            expect(page.locator("p.notice")).to_contain_text(str(entries))

        if step(base, "hit-test a question", f"{kb}/hit-test"):
            page.goto(f"{base}{kb}/hit-test")
            page.fill("input[name=q]", "订单状态在哪里看")
            page.click("button[type=submit].primary")
            expect(page.locator("#answer-entry")).to_have_text("怎么查看我的订单状态？")

        if step(
            base, "fix an unanswered question and see the widget answer it", f"{kb}/unanswered"
        ):
            assert ANSWER not in widget_answer(chromium, shop, UNKNOWN)  # not known yet
            page.goto(f"{base}{kb}/unanswered")
            group = page.locator("li.group", has_text=UNKNOWN)
            expect(group).to_be_visible()
            group.locator("a.button").click()
            expect(page.locator("input[name=question]")).to_have_value(UNKNOWN)
            page.fill("textarea[name=answer]", ANSWER)
            page.click("button[type=submit].primary")
            expect(page.locator("p.notice")).to_be_visible()
            assert ANSWER in widget_answer(chromium, shop, UNKNOWN)

        seed_november(db, licensee_id, 5)
        statement = f"/admin/statements/{licensee_id}/{MONTH}"
        if step(base, "issue a statement and download its PDF", statement):
            page.goto(f"{base}{statement}")
            page.click("button:has-text('出具结算单')")
            expect(page.locator("p.notice")).to_contain_text("结算单已出具")
            with page.expect_download() as download:
                page.click("a:has-text('PDF')")
            saved = download.value
            assert saved.suggested_filename.endswith(".pdf")
            assert Path(saved.path()).read_bytes().startswith(b"%PDF")

        report = f"/admin/reports/{licensee_id}?month={MONTH}"
        if step(base, "read a chart", f"/admin/reports/{licensee_id}"):
            page.goto(f"{base}{report}")
            chart = page.locator("svg.chart").first
            expect(chart).to_be_visible()
            titles = [t or "" for t in chart.locator("title").all_text_contents()]
            november = [t for t in titles if t.startswith("2026-11-0")]
            assert sum(int(t.rsplit(": ", 1)[1]) for t in november) == 5, titles

        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(f"{base}/admin/audit")
        page.screenshot(path=str(ARTIFACTS / "console-e2e-audit.png"), full_page=True)
        expect(page.locator("table")).to_contain_text("origin.added")
        assert watch.errors == [] and watch.dialogs == []
    finally:
        context.close()
        host.close()
    (ARTIFACTS / "console-e2e-skipped.txt").write_text("\n".join(STEPS_SKIPPED) + "\n")
