"""The console in Chromium: each page at 1,280 px and 390 px, in Chinese and English, with no
script error and no horizontal scrolling of the page; the screenshots kept in docs/images."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.chat.services import build_services
from core.accounts import Role
from core.db.engine import Database
from core.types import utcnow
from testkit.admin import PASSWORD, make_user
from testkit.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Watch, playwright_api
from testkit.servers import run_server, settings_for
from testkit.tenants import make_tenant

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A real server with an owner, three licensees and some history; (url, email, a lic id)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console')}/kefu.db"
    db = Database(url, sqlite_synchronous="NORMAL")
    db.migrate()
    owner = make_user(db, Role.OWNER, email="owner@example.com", name="王经理")
    shops = [
        make_tenant(db, name) for name in ("示例商城 Example Shop", "Tea House 茶馆", "Book Corner")
    ]
    services = build_services(settings_for(url), db)
    for address in run_server(services):
        yield f"http://{address}", owner.email, shops[0].licensee.id
    db.close()


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/admin")


def test_the_operator_sets_up_a_licensee_in_the_browser(
    browser: Any, console: tuple[str, str, str]
) -> None:
    base, email, _lic = console
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    try:
        page.goto(f"{base}/admin/licensees")
        assert "/admin/login?next=/admin/licensees" in page.url
        page.fill('input[name="email"]', email)
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url(f"{base}/admin/licensees")
        page.get_by_role("link", name="示例商城 Example Shop").click()
        page.fill('#origins form.row input[name="origin"]', "https://m.example.com")
        page.click('#origins form.row button[type="submit"]')
        page.wait_for_url("**done=origin_added")
        assert page.locator("#origins").get_by_text("https://m.example.com").is_visible()
        start = utcnow() + timedelta(days=2)
        page.goto(f"{base}/admin/operations")
        page.fill('#maintenance input[name="starts_at"]', start.strftime("%Y-%m-%dT%H:%M"))
        end = (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        page.fill('#maintenance input[name="ends_at"]', end)
        page.fill('#maintenance input[name="text"]', "系统升级")
        page.click('#maintenance button[type="submit"]')
        page.wait_for_url("**done=announced")
        page.goto(f"{base}/admin/audit")
        assert page.get_by_text("origin.added").is_visible()
        assert page.get_by_text("maintenance.announced").is_visible()
    finally:
        context.close()
    assert watch.errors == [] and watch.dialogs == []


def test_the_operator_sets_the_hand_off_rules_in_the_browser(
    browser: Any, console: tuple[str, str, str]
) -> None:
    base, email, lic = console
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    try:
        sign_in(page, base, email)
        page.goto(f"{base}/admin/licensees/{lic}")
        page.get_by_role("link", name="转人工规则").click()
        page.wait_for_url(f"{base}/admin/licensees/{lic}/handoff")
        page.fill('textarea[name="hours"]', "1-5 09:00-18:00\n6 10:00-16:00")
        page.fill('textarea[name="phrases"]', "转人工\n人工客服\n找客服\nhuman")
        page.fill('textarea[name="greeting"]', "您好，我是客服小王，请问有什么可以帮您？")
        page.fill('input[name="grace"]', "5")
        page.click('#handoff button[type="submit"]')
        assert page.get_by_role("alert").inner_text().startswith("掉线保留时间应为 10 到 3600 秒")
        assert page.input_value('textarea[name="phrases"]').endswith("human")  # kept as typed
        page.fill('input[name="grace"]', "120")
        page.click('#handoff button[type="submit"]')
        page.wait_for_url("**done=saved")
        assert page.get_by_role("status").is_visible()
        assert page.input_value('textarea[name="hours"]') == "1-5 09:00-18:00\n6 10:00-16:00"
        page.goto(f"{base}/admin/audit")
        assert page.get_by_text("licensee.handoff").first.is_visible()
    finally:
        context.close()
    assert watch.errors == [] and watch.dialogs == []


PAGES = {
    "login": "/admin/login",
    "home": "/admin",
    "licensees": "/admin/licensees",
    "licensee": "/admin/licensees/{lic}",
    "handoff": "/admin/licensees/{lic}/handoff",
    "operations": "/admin/operations",
    "audit": "/admin/audit",
    "users": "/admin/users",
}


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_screenshots(browser: Any, console: tuple[str, str, str], width: int, lang: str) -> None:
    base, email, lic = console
    context = browser.new_context(
        locale="zh-CN" if lang == "zh" else "en-US",
        viewport={"width": width, "height": 900 if width > 500 else 844},
        device_scale_factor=1,
        is_mobile=width < 500,
        has_touch=width < 500,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        for name, path in PAGES.items():
            if name == "home":
                sign_in(page, base, email)
            page.goto(f"{base}{path.format(lic=lic)}")
            assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, (name, width, overflow)
            page.screenshot(
                path=str(ARTIFACTS / f"console-{name}-{width}-{lang}.png"), full_page=True
            )
    finally:
        context.close()
    assert watch.errors == [] and watch.dialogs == []
