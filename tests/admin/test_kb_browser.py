"""In Chromium against `kefu demo`: sign in, hit-test a question, fix a question the widget did
not know from the unanswered list and see the widget answer it, read its transcript; then the
screenshots of these pages at 1,280 and 390 px in Chinese and English."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    KefuDemo,
    Watch,
    ask,
    expect,
    part,
    playwright_api,
    robot_rows,
)

UNKNOWN = "你们有线下门店吗"
ANSWER = "我们目前只在网上销售，没有线下门店。"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KefuDemo, str, str]]:
    server = KefuDemo(tmp_path_factory.mktemp("demo"))
    server.start()
    password = "pw-" + secrets.token_hex(8)
    server.cli("admin", "create", "--email", "owner@example.com", "--password", password)
    licensee = server.cli("licensee", "list")["licensees"][0]["id"]
    yield server, password, licensee
    server.stop()


def signed_in(chromium: Any, demo: tuple[KefuDemo, str, str], width: int, lang: str) -> Any:
    server, password, _ = demo
    context = chromium.new_context(
        locale="zh-CN" if lang == "zh" else "en",
        viewport={"width": width, "height": 900 if width > 600 else 844},
        device_scale_factor=1,
        is_mobile=width < 480,
        has_touch=width < 480,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}/admin/login?lang={lang}")
    page.fill("input[name=email]", "owner@example.com")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/admin")
    return page


def widget_says(chromium: Any, server: KefuDemo, *questions: str) -> str:
    """Ask the demo page's widget ``questions`` in one conversation; its last answer."""
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{server.url}/demo")
        part(page, "launcher").click()
        expect(part(page, "panel")).to_have_attribute("data-status", "ready")
        for n, question in enumerate(questions, start=1):
            ask(page, question)
            expect(robot_rows(page)).to_have_count(n)
            row = robot_rows(page).last
            expect(row).to_have_attribute("data-state", "done")
        return str(row.inner_text())
    finally:
        context.close()


def test_fix_an_unanswered_question_and_the_widget_answers_it(
    chromium: Any, demo: tuple[KefuDemo, str, str]
) -> None:
    server, _, licensee = demo
    page = signed_in(chromium, demo, 1280, "zh")
    watch = Watch(page)
    base = f"{server.url}/admin/kb/{licensee}"

    page.click("nav.nav >> text=知识库")
    page.click(f"a[href='/admin/kb/{licensee}']")
    expect(page.locator("table.entries")).to_contain_text("退款多久能到账？")

    page.goto(f"{base}/hit-test")
    page.fill("input[name=q]", "退款要多久才能到账")
    page.click("button[type=submit].primary")
    expect(page.locator("#answer-entry")).to_have_text("退款多久能到账？")
    expect(page.locator("#threshold")).to_be_visible()

    assert "人工" in widget_says(chromium, server, UNKNOWN)  # the robot did not know

    page.goto(f"{base}/unanswered")
    group = page.locator("li.group", has_text=UNKNOWN)
    expect(group).to_be_visible()
    group.locator("a", has_text="新建条目").click()
    expect(page.locator("input[name=question]")).to_have_value(UNKNOWN)
    page.fill("textarea[name=answer]", ANSWER)
    page.click("button[type=submit].primary")
    expect(page.locator("p.notice")).to_be_visible()

    page.goto(f"{base}/hit-test?q={UNKNOWN}")
    expect(page.locator("#answer-entry")).to_have_text(UNKNOWN)
    assert ANSWER in widget_says(chromium, server, UNKNOWN)
    page.goto(f"{base}/unanswered")
    expect(page.locator("li.group", has_text=UNKNOWN)).to_have_count(0)

    page.goto(f"{server.url}/admin/conversations?licensee={licensee}")
    page.locator("table.conversations a").first.click()
    expect(page.locator(".ai-label").first).to_have_text("内容由AI生成")
    assert watch.errors == [] and watch.dialogs == []
    page.context.close()


PAGES = {
    "kb-list": "/admin/kb/{lic}",
    "kb-hit-test": "/admin/kb/{lic}/hit-test?q={q}",
    "kb-unanswered": "/admin/kb/{lic}/unanswered",
    "kb-robot": "/admin/kb/{lic}/robot",
    "transcript": None,
}


@pytest.mark.parametrize(("width", "lang"), [(1280, "zh"), (1280, "en"), (390, "zh"), (390, "en")])
def test_screenshots(chromium: Any, demo: tuple[KefuDemo, str, str], width: int, lang: str) -> None:
    server, _, licensee = demo
    if lang == "zh":
        widget_says(chromium, server, "退款多久能到账", "你们周末发货吗？可以加急吗")
    else:
        widget_says(
            chromium, server, "How long does a refund take?", "Do you have a shop in Paris?"
        )
    page = signed_in(chromium, demo, width, lang)
    watch = Watch(page)
    question = "退款要多久才能到账" if lang == "zh" else "how long does a refund take"
    ARTIFACTS.mkdir(exist_ok=True)  # the good ones are kept in docs/images
    for name, path in PAGES.items():
        if path is None:
            page.goto(f"{server.url}/admin/conversations?licensee={licensee}&lang={lang}")
            page.locator("table.conversations a").first.click()
            expect(page.locator(".ai-label").first).to_be_visible()
        else:
            page.goto(
                server.url
                + path.format(lic=licensee, q=question)
                + f"{'&' if '?' in path else '?'}lang={lang}"
            )
        if name == "kb-robot":  # the look and its live preview
            page.locator("section.look").scroll_into_view_if_needed()
            expect(page.frame_locator("iframe[name=preview]").locator(".panel")).to_be_visible()
        page.wait_for_timeout(200)
        page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}-{lang}.png"))
        width_of_page = page.evaluate("document.documentElement.scrollWidth")
        assert width_of_page <= width + 1, (name, width_of_page)  # nothing runs off the side
    assert watch.errors == [] and watch.dialogs == []
    page.context.close()
