"""The embeddable widget in Chromium: loading, the JS API, Markdown, keyboard, look, CSP, tabs."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from testkit.browser import (
    ARTIFACTS,
    SHOP,
    SITE_KEY,
    FakeServer,
    FrameLog,
    HostSite,
    KefuDemo,
    Watch,
    ask,
    expect,
    open_chat,
    part,
    robot_rows,
    visitor_rows,
    wait_until,
)

pytestmark = pytest.mark.browser

Shop = tuple[Any, FakeServer, Watch]


def host_page(page: Any, path: str, attrs: str = "", head: str = "", lang: str = "zh-CN") -> str:
    """A plain host page at SHOP + path embedding the widget with extra script attributes."""
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">{head}</head><body>'
        "<h1>Host page</h1><p>Some content.</p>"
        f'<script src="/widget.js" data-key="{SITE_KEY}" {attrs} async></script></body></html>'
    )
    page.route(f"{SHOP}{path}", lambda route: route.fulfill(body=html, content_type="text/html"))
    return f"{SHOP}{path}"


def active_in_panel(page: Any) -> bool:
    return bool(
        page.evaluate(
            """() => {
              const root = document.querySelector('[data-kefu-widget]').shadowRoot;
              const panel = root.querySelector('[data-kefu="panel"]');
              return !!root.activeElement && panel.contains(root.activeElement);
            }"""
        )
    )


def active_name(page: Any) -> str | None:
    name: str | None = page.evaluate(
        """() => {
          const a = document.querySelector('[data-kefu-widget]').shadowRoot.activeElement;
          return a ? a.getAttribute('data-kefu') : null;
        }"""
    )
    return name


# ---------------------------------------------------------------- loading


def test_launcher_at_once_chat_ui_only_when_wanted(shop: Shop) -> None:
    page, server, _ = shop
    page.goto(f"{SHOP}/demo")
    expect(part(page, "launcher")).to_be_visible()
    page.wait_for_timeout(300)
    # Nothing but the loader yet: no chat UI, no socket.
    assert server.ui_fetches == []
    assert server.conns == []
    expect(part(page, "panel")).to_have_count(0)
    # Interest (hover) fetches the UI without opening or connecting.
    part(page, "launcher").hover()
    wait_until(page, lambda: len(server.ui_fetches) == 1)
    expect(part(page, "panel")).to_be_hidden()
    assert server.conns == []
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    assert len(server.ui_fetches) == 1
    assert len(server.conns) == 1


def test_chat_left_open_reopens_on_the_next_page(shop: Shop) -> None:
    page, _, _ = shop
    open_chat(page)
    page.reload()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    part(page, "minimise").click()
    page.reload()
    expect(part(page, "launcher")).to_be_visible()
    page.wait_for_timeout(300)
    expect(part(page, "panel")).to_have_count(0)


def test_the_ui_failing_to_load_does_not_break_the_page(shop: Shop) -> None:
    page, _, watch = shop
    failures = {"left": 1}

    def flaky(route: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.abort()
        else:
            route.fallback()

    page.route(f"{SHOP}/widget/ui.*.js", flaky)
    page.goto(f"{SHOP}/demo")
    part(page, "launcher").click()
    expect(part(page, "launcher")).to_have_attribute("data-state", "error")
    part(page, "launcher").click()  # tries again
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    watch.errors.clear()  # the aborted request is logged by the browser, not thrown by us


# ---------------------------------------------------------------- the JS API


def test_set_locale_identify_and_reset(shop: Shop) -> None:
    page, server, _ = shop
    open_chat(page)
    expect(part(page, "launcher")).to_have_attribute("aria-label", "打开在线客服")
    server.config = dict(server.config, locale="en", title="Shop help")

    page.evaluate("window.Kefu.setLocale('en')")
    wait_until(page, lambda: len(server.sent("hello")) == 2)
    assert server.sent("hello")[-1]["locale"] == "en"
    expect(part(page, "launcher")).to_have_attribute("aria-label", "Open customer service chat")
    expect(part(page, "input")).to_have_attribute("placeholder", "Type your question…")

    page.evaluate("window.Kefu.identify({id: 'user-42', hash: 'ab12'})")
    wait_until(page, lambda: len(server.sent("hello")) == 3)
    assert server.sent("hello")[-1]["user"] == {"id": "user-42", "hash": "ab12"}
    # The same identity again does not reconnect.
    page.evaluate("window.Kefu.identify({id: 'user-42', hash: 'ab12'})")
    page.wait_for_timeout(300)
    assert len(server.sent("hello")) == 3
    with pytest.raises(Exception, match=r"Kefu\.identify"):
        page.evaluate("window.Kefu.identify({})")

    ask(page, "hello")
    expect(robot_rows(page)).to_have_count(1)
    assert page.evaluate(f"localStorage.getItem('kefu.visitor.{SITE_KEY}')") == "v-token-1"
    server.history = []  # what the server has for a new visitor
    page.evaluate("window.Kefu.reset()")
    wait_until(page, lambda: len(server.sent("hello")) == 4)
    hello = server.sent("hello")[-1]
    assert hello["visitor"] is None
    assert "user" not in hello
    expect(visitor_rows(page)).to_have_count(0)


def test_script_attributes(shop: Shop) -> None:
    page, server, _ = shop
    server.config = dict(server.config, theme={"color": "#e4572e", "position": "right"})
    url = host_page(
        page,
        "/attrs",
        'data-locale="en" data-position="left" data-color="#0a7d32" data-theme="dark" '
        'data-user-id="user-7" data-user-hash="ff00"',
    )
    page.goto(url)
    launcher = part(page, "launcher")
    expect(launcher).to_have_attribute("aria-label", "Open customer service chat")
    box = launcher.bounding_box()
    assert box is not None and box["x"] == 20
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(10, 125, 50)"
    launcher.click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    hello = server.sent("hello")[0]
    assert hello["locale"] == "en"
    assert hello["user"] == {"id": "user-7", "hash": "ff00"}
    # data-color wins over the licensee's colour; data-theme="dark" over the system's light.
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(10, 125, 50)"
    assert part(page, "root").evaluate("e => e.classList.contains('dark')")


def test_no_launcher_mode_opens_from_the_host_page(shop: Shop) -> None:
    page, _, _ = shop
    # A host script that runs before the async tag waits for the ready event.
    page.add_init_script(
        """document.addEventListener('kefu:ready', () => { window.__ready = !!window.Kefu; });"""
    )
    page.goto(host_page(page, "/own-button", 'data-launcher="false"'))
    page.wait_for_function("() => window.__ready === true")
    expect(part(page, "launcher")).to_be_hidden()
    page.evaluate("window.Kefu.open()")
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")


# ---------------------------------------------------------------- Markdown


MARKDOWN = (
    "**Refunds** take 3 days.\n\n"
    "- one [docs](https://example.com/help?a=1&b=2)\n"
    "- two [evil](javascript:alert(1)) and [data](data:text/html,x)\n"
    "1. call [us](tel:+86-10-1234) or [mail](mailto:help@example.com)\n"
    "2. see https://example.com/faq.\n\n"
    '<img src=x onerror=alert(1)> <a href="javascript:alert(2)">x</a>'
)


def test_markdown_subset_renders_safely(shop: Shop) -> None:
    page, server, watch = shop
    open_chat(page)
    server.auto_reply = False
    ask(page, "refund?")
    wait_until(page, lambda: len(server.sent("message")) == 1)
    conn, to = server.last, server.sent("message")[0]["id"]
    conn.send({"type": "reply.start", "reply": "r-md", "to": to})
    conn.send({"type": "reply.delta", "reply": "r-md", "text": MARKDOWN[:40]})
    messages = part(page, "messages")
    expect(messages).to_have_attribute("aria-busy", "true")  # screen readers wait for the end
    conn.send({"type": "reply.delta", "reply": "r-md", "text": MARKDOWN[40:]})
    conn.send({"type": "reply.end", "reply": "r-md", "text": MARKDOWN, "sources": []})
    bubble = robot_rows(page).first.locator(".bubble")
    expect(robot_rows(page).first).to_have_attribute("data-state", "done")
    expect(messages).not_to_have_attribute("aria-busy", "true")

    expect(bubble.locator("strong")).to_have_text(["Refunds"])
    expect(bubble.locator("ul > li")).to_have_count(2)
    expect(bubble.locator("ol > li")).to_have_count(2)
    links = bubble.locator("a")
    hrefs = links.evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert hrefs == [
        "https://example.com/help?a=1&b=2",
        "tel:+86-10-1234",
        "mailto:help@example.com",
        "https://example.com/faq",
    ]
    for i in range(links.count()):
        expect(links.nth(i)).to_have_attribute("target", "_blank")
        expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer")
    # Refused schemes stay plain text; markup stays text.
    expect(bubble).to_contain_text("evil")
    expect(bubble).to_contain_text(
        '<img src=x onerror=alert(1)> <a href="javascript:alert(2)">x</a>'
    )
    assert bubble.locator("img").count() == 0
    page.wait_for_timeout(300)
    assert watch.dialogs == []
    # The visitor's own text is never Markdown.
    ask(page, "**not bold** [x](https://example.com)")
    row = visitor_rows(page).nth(1)
    expect(row.locator(".bubble")).to_have_text("**not bold** [x](https://example.com)")
    assert row.locator("strong, a").count() == 0


def test_a_restarted_reply_shows_only_what_replaces_it(shop: Shop) -> None:
    page, server, _ = shop
    open_chat(page)
    server.auto_reply = False
    ask(page, "refund?")
    wait_until(page, lambda: len(server.sent("message")) == 1)
    conn, to = server.last, server.sent("message")[0]["id"]
    conn.send({"type": "reply.start", "reply": "r-x", "to": to})
    conn.send({"type": "reply.delta", "reply": "r-x", "text": "The first model said half"})
    bubble = robot_rows(page).first.locator(".bubble")
    expect(bubble).to_have_text("The first model said half")
    conn.send({"type": "reply.restart", "reply": "r-x"})  # it broke; the next link answers
    expect(bubble).to_have_text("")
    expect(part(page, "typing")).to_be_visible()  # waiting again, visibly
    conn.send({"type": "reply.delta", "reply": "r-x", "text": "The fallback's "})
    conn.send({"type": "reply.delta", "reply": "r-x", "text": "whole answer."})
    expect(bubble).to_have_text("The fallback's whole answer.")
    conn.send({"type": "reply.end", "reply": "r-x", "text": "The fallback's whole answer.",
               "ai": {"label": "AI-generated", "producer": "kefu", "model": "kefu-kb-1",
                      "content_id": "r-x"}, "sources": []})  # fmt: skip
    expect(robot_rows(page).first).to_have_attribute("data-state", "done")
    expect(robot_rows(page).first).to_have_attribute("data-ai-model", "kefu-kb-1")
    expect(part(page, "typing")).to_be_hidden()


# ---------------------------------------------------------------- keyboard and screen readers


def test_keyboard_focus_trap_and_escape(shop: Shop) -> None:
    page, _, _ = shop
    page.goto(f"{SHOP}/demo")
    launcher = part(page, "launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(launcher).to_have_attribute("aria-haspopup", "dialog")
    launcher.focus()
    page.keyboard.press("Enter")
    panel = part(page, "panel")
    expect(panel).to_have_attribute("data-status", "ready")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(panel).to_have_attribute("role", "dialog")
    expect(panel).to_have_attribute("aria-modal", "true")
    assert panel.evaluate(
        "p => p.getRootNode().getElementById(p.getAttribute('aria-labelledby')).textContent"
    )
    wait_until(page, lambda: active_name(page) == "input")
    for _ in range(8):
        page.keyboard.press("Tab")
        assert active_in_panel(page)
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        assert active_in_panel(page)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert active_name(page) == "launcher"
    for name in ["input", "send", "minimise"]:
        assert part(page, name).get_attribute("aria-label")
    expect(part(page, "messages")).to_have_attribute("role", "log")


def test_reduced_motion(browser: Any, shop: Shop) -> None:
    page, _, _ = shop
    page.emulate_media(reduced_motion="reduce")
    open_chat(page)
    animation = part(page, "panel").evaluate("e => getComputedStyle(e).animationName")
    assert animation == "none"


# ---------------------------------------------------------------- look


def test_dark_mode_follows_the_system(shop: Shop) -> None:
    page, _, _ = shop
    page.emulate_media(color_scheme="dark")
    open_chat(page)
    assert part(page, "root").evaluate("e => e.classList.contains('dark')")
    body = part(page, "panel").locator(".body")
    assert body.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(15, 18, 23)"
    page.emulate_media(color_scheme="light")
    wait_until(page, lambda: not part(page, "root").evaluate("e => e.classList.contains('dark')"))
    assert body.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(244, 246, 250)"


def test_colour_and_position_from_the_licensee_are_remembered(shop: Shop) -> None:
    page, server, _ = shop
    server.config = dict(server.config, theme={"color": "#f5d90a", "position": "left"})
    open_chat(page)
    launcher = part(page, "launcher")
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(245, 217, 10)"
    # A light brand colour gets dark text.
    assert launcher.evaluate("e => getComputedStyle(e).color") == "rgb(17, 24, 39)"
    panel_box = part(page, "panel").bounding_box()
    assert panel_box is not None and panel_box["x"] == 20
    part(page, "minimise").click()
    page.reload()
    # Before any connection, the next page already wears them.
    box = part(page, "launcher").bounding_box()
    assert box is not None and box["x"] == 20
    assert server.ui_fetches and len(server.conns) == 1


def test_hostile_host_styles_do_not_reach_the_widget(shop: Shop) -> None:
    page, _, _ = shop
    hostile = (
        "<style>* { all: unset !important; } button, div, svg { background: red !important;"
        " border: 9px solid lime !important; display: block !important; width: 3px !important; }"
        " body { font-size: 40px; color: red; line-height: 4; }</style>"
    )
    page.goto(host_page(page, "/hostile", head=hostile))
    launcher = part(page, "launcher")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box is not None and box["width"] == 56 and box["height"] == 56
    launcher.click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    title = part(page, "title")
    assert title.evaluate("e => getComputedStyle(e).fontSize") == "15px"
    assert part(page, "input").evaluate("e => getComputedStyle(e).borderTopWidth") == "1px"


def test_no_layout_shift_on_the_host_page(shop: Shop) -> None:
    page, _, _ = shop
    page.add_init_script(
        """window.__shift = 0;
        new PerformanceObserver(list => {
          for (const e of list.getEntries()) window.__shift += e.value;
        }).observe({type: 'layout-shift', buffered: true});"""
    )
    page.goto(host_page(page, "/plain"))
    heading = page.locator("h1").bounding_box()
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    ask(page, "hello")
    expect(robot_rows(page)).to_have_count(1)
    part(page, "minimise").click()
    page.wait_for_timeout(200)
    assert page.locator("h1").bounding_box() == heading
    assert page.evaluate("window.__shift") == 0


# ---------------------------------------------------------------- the real server


def _csp_watch(page: Any) -> None:
    page.add_init_script(
        """window.__csp = [];
        document.addEventListener('securitypolicyviolation',
          e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""
    )


def test_strict_csp_host_page(demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo) -> None:
    page, _, frames = demo_page
    _csp_watch(page)
    page.add_init_script("window.__before = Object.getOwnPropertyNames(window);")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(f"{kefu_demo.url}/demo")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    ask(page, "怎么申请退款？")
    expect(robot_rows(page).first).to_have_attribute("data-state", "done")
    # The widget's styles applied (constructable style sheets are allowed by a strict CSP).
    assert part(page, "panel").evaluate("e => getComputedStyle(e).position") == "fixed"
    assert page.evaluate("window.__csp") == []
    assert frames.received("reply.end")
    # No third-party requests: everything came from the Kefu server.
    assert requests and all(url.startswith(kefu_demo.url + "/") for url in requests), requests
    # The widget added exactly one global.
    added = page.evaluate(
        "Object.getOwnPropertyNames(window).filter(k => !window.__before.includes(k))"
    )
    assert sorted(set(added) - {"__before", "__csp"}) == ["Kefu"]


def test_network_cut_and_restored_sends_once(
    demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo
) -> None:
    page, watch, frames = demo_page
    page.goto(f"{kefu_demo.url}/demo")
    part(page, "launcher").click()
    panel = part(page, "panel")
    expect(panel).to_have_attribute("data-status", "ready")
    ask(page, "怎么申请退款？")
    expect(robot_rows(page)).to_have_count(1)

    page.context.set_offline(True)
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    expect(panel).to_have_attribute("data-status", "reconnecting", timeout=20_000)
    ask(page, "How long does a refund take?")
    expect(visitor_rows(page).nth(1)).to_have_attribute("data-state", "queued")
    page.wait_for_timeout(1500)  # reconnect attempts fail meanwhile
    page.context.set_offline(False)
    expect(panel).to_have_attribute("data-status", "ready", timeout=30_000)
    expect(visitor_rows(page).nth(1)).to_have_attribute("data-state", "sent")
    expect(robot_rows(page)).to_have_count(2)
    expect(robot_rows(page).nth(1)).to_have_attribute("data-state", "done")
    queued = [f for f in frames.sent("message") if f["text"] == "How long does a refund take?"]
    assert len(queued) == 1  # sent once, on the new connection
    frames.assert_nothing_resent_after_ack()
    page.reload()
    part(page, "panel").wait_for()
    expect(panel).to_have_attribute("data-status", "ready")
    expect(visitor_rows(page)).to_have_count(2)  # stored once
    watch.errors.clear()  # failed reconnects while offline are logged by the browser


def test_two_tabs_share_one_conversation(browser: Any, kefu_demo: KefuDemo) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        first, second = context.new_page(), context.new_page()
        log_first, log_second = FrameLog(first), FrameLog(second)
        for page in (first, second):
            page.set_default_timeout(15_000)
        first.goto(f"{kefu_demo.url}/demo")
        part(first, "launcher").click()
        ask(first, "怎么申请退款？")
        expect(robot_rows(first).first).to_have_attribute("data-state", "done")

        second.goto(f"{kefu_demo.url}/demo")
        if not part(second, "panel").is_visible():
            part(second, "launcher").click()
        expect(part(second, "panel")).to_have_attribute("data-status", "ready")
        expect(visitor_rows(second)).to_have_count(1)
        expect(robot_rows(second)).to_have_count(1)

        ask(second, "How long does a refund take?")
        expect(robot_rows(second)).to_have_count(2)
        expect(robot_rows(second).nth(1)).to_have_attribute("data-state", "done")
        # The first tab shows the second tab's question and answer as they happen.
        expect(visitor_rows(first)).to_have_count(2)
        expect(robot_rows(first)).to_have_count(2)
        expect(visitor_rows(first).nth(1).locator(".bubble")).to_have_text(
            "How long does a refund take?"
        )
        # One conversation, one unit: both tabs got the same one; the message was sent once.
        ids = {f["conversation"]["id"] for f in log_first.received("ack")}
        ids |= {f["conversation"]["id"] for f in log_second.received("ack")}
        assert len(ids) == 1
        assert len(log_first.sent("message")) == 1
        assert len(log_second.sent("message")) == 1
    finally:
        context.close()


def test_a_refused_key_shows_a_clear_state(
    demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo, host_site: HostSite
) -> None:
    page, watch, _ = demo_page
    url = host_site.page(
        "/shop",
        f'<script src="{kefu_demo.url}/widget.js" data-key="pk_live_unknown" async></script>',
        lang="en",
    )
    page.goto(url)
    part(page, "launcher").click()
    banner = part(page, "banner")
    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_have_attribute("data-kind", "unreachable")
    expect(banner).to_contain_text("cannot be reached")
    expect(part(page, "status")).to_have_text("Connecting…")
    assert "401" in kefu_demo.log()  # refused by the server, not by the browser
    watch.errors.clear()  # the refused handshakes are logged by the browser, not thrown by us


def test_identified_user_continues_on_another_device(
    browser: Any, kefu_demo: KefuDemo, host_site: HostSite
) -> None:
    listed = kefu_demo.cli("licensee", "list")
    licensees = listed["licensees"] if isinstance(listed, dict) else listed
    demo_id = licensees[0]["id"]
    secret = kefu_demo.cli("licensee", "identity-secret", demo_id)["identity_secret"]
    user_hash = hmac.new(secret.encode(), b"customer-42", hashlib.sha256).hexdigest()
    site_key = kefu_demo.demo_site_key()
    kefu_demo.cli("origin", "add", "--licensee", demo_id, host_site.origin)
    account = host_site.page(
        "/account",
        f'<script src="{kefu_demo.url}/widget.js" data-key="{site_key}" '
        f'data-user-id="customer-42" data-user-hash="{user_hash}" async></script>',
    )

    def device() -> tuple[Any, Any, FrameLog]:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(15_000)
        frames = FrameLog(page)
        page.goto(account)
        part(page, "launcher").click()
        expect(part(page, "panel")).to_have_attribute("data-status", "ready")
        return context, page, frames

    laptop, page, frames = device()
    try:
        assert frames.received("welcome")[0]["user"] == "customer-42"
        ask(page, "怎么申请退款？")
        expect(robot_rows(page).first).to_have_attribute("data-state", "done")
        conversation = frames.received("ack")[0]["conversation"]["id"]
        phone, other, other_frames = device()  # no shared storage: another browser
        try:
            welcome = other_frames.received("welcome")[0]
            assert welcome["user"] == "customer-42"
            assert welcome["conversation"]["id"] == conversation
            expect(visitor_rows(other)).to_have_count(1)
            expect(robot_rows(other)).to_have_count(1)
            # Log-out: reset forgets the visitor; the next chat is anonymous and new.
            other.evaluate("window.Kefu.reset()")
            wait_until(other, lambda: len(other_frames.received("welcome")) == 2)
            fresh = other_frames.received("welcome")[1]
            assert fresh["user"] is None and fresh["conversation"] is None
            expect(visitor_rows(other)).to_have_count(0)
        finally:
            phone.close()
    finally:
        laptop.close()


# ---------------------------------------------------------------- screenshots for the docs


@pytest.mark.parametrize(
    ("width", "height", "locale", "question"),
    [
        (1280, 800, "zh-CN", "怎么申请退款？"),
        (1280, 800, "en", "How do I get a refund?"),
        (390, 844, "zh-CN", "怎么申请退款？"),
        (390, 844, "en", "How do I get a refund?"),
        (320, 640, "zh-CN", "怎么申请退款？"),
    ],
)
def test_screenshots(
    browser: Any, kefu_demo: KefuDemo, width: int, height: int, locale: str, question: str
) -> None:
    dark = width == 1280 and locale == "en"  # one of them in dark mode, for the docs
    context = browser.new_context(
        color_scheme="dark" if dark else "light",
        locale=locale,
        viewport={"width": width, "height": height},
        device_scale_factor=1,
        has_touch=width < 480,
        is_mobile=width < 480,
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(page)
        page.goto(f"{kefu_demo.url}/demo")
        if not locale.startswith("zh"):
            page.evaluate(f"window.Kefu.setLocale({json.dumps(locale)})")
        part(page, "launcher").click()
        expect(part(page, "panel")).to_have_attribute("data-status", "ready")
        ask(page, question)
        expect(robot_rows(page).first).to_have_attribute("data-state", "done")
        expect(part(page, "typing")).to_be_hidden()
        page.wait_for_timeout(300)
        ARTIFACTS.mkdir(exist_ok=True)  # the good ones are kept in docs/images
        name = f"widget-{width}-{locale[:2]}{'-dark' if dark else ''}.png"
        page.screenshot(path=str(ARTIFACTS / name))
        if dark:
            assert part(page, "root").evaluate("e => e.classList.contains('dark')")
        panel = part(page, "panel").bounding_box()
        viewport = page.evaluate("[visualViewport.width, visualViewport.height]")
        assert panel is not None
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= viewport[0]
        assert panel["y"] >= 0 and panel["y"] + panel["height"] <= viewport[1]
        if width < 480:  # the whole screen on a phone
            assert (panel["width"], panel["height"]) == (viewport[0], viewport[1])
        assert watch.errors == [] and watch.dialogs == []
    finally:
        context.close()


# ---------------------------------------------------------------- test keys, long conversations


def history_items(first: int, last: int) -> list[dict[str, Any]]:
    """Alternating visitor and robot items numbered first..last (ids h<n>)."""
    items: list[dict[str, Any]] = []
    for n in range(first, last + 1):
        item: dict[str, Any] = {"id": f"h{n}", "text": f"第{n}条", "at": "2025-01-02T10:00:00Z"}
        if n % 2 == 0:
            item.update(role="visitor", client_id=f"c{n}")
        else:
            ai = {"label": "内容由AI生成", "producer": "kefu", "model": "kefu-kb-1"}
            item.update(role="robot", ai={**ai, "content_id": f"h{n}"})
        items.append(item)
    return items


def test_a_test_key_shows_test_mode_and_earlier_messages_load_on_demand(shop: Shop) -> None:
    page, server, _ = shop
    server.config = {**server.config, "test": True}
    server.history = history_items(40, 49)
    server.welcome_extra = {"more_history": True}
    open_chat(page)
    expect(part(page, "test-mode")).to_be_visible()
    expect(part(page, "test-mode")).to_have_text("测试模式")
    earlier = part(page, "earlier")
    expect(earlier).to_have_text("查看更早的消息")
    page.screenshot(path=str(ARTIFACTS / "widget-test-mode.png"))

    earlier.click()  # the button asks for the page before the oldest message shown
    wait_until(page, lambda: len(server.sent("history")) == 1)
    assert server.sent("history")[0]["before"] == "h40"
    server.last.send({"type": "history", "items": history_items(20, 39), "more": True})
    rows = part(page, "messages").locator("[data-id]")
    expect(rows).to_have_count(30)
    expect(rows.first).to_have_attribute("data-id", "h20")

    # Scrolling to the top asks for the next page; the last one removes the button.
    part(page, "messages").evaluate("list => { list.scrollTop = 0; }")
    wait_until(page, lambda: len(server.sent("history")) == 2)
    assert server.sent("history")[1]["before"] == "h20"
    server.last.send({"type": "history", "items": history_items(18, 19), "more": False})
    expect(rows).to_have_count(32)
    expect(part(page, "earlier")).to_have_count(0)
    robot = rows.filter(has_text="第19条")
    expect(robot.locator(".ai-label")).to_have_count(1)


def test_a_live_key_shows_no_test_mark_in_english(shop: Shop) -> None:
    page, server, _ = shop
    server.config = {**server.config, "locale": "en"}
    open_chat(page)
    expect(part(page, "test-mode")).to_be_hidden()
    server.config = {**server.config, "test": True}
    server.last.close(1011)  # the next welcome (a test key now) shows the mark, in English
    expect(part(page, "test-mode")).to_have_text("Test mode")
    expect(part(page, "test-mode")).to_be_visible()
