"""The widget in Chromium: against a scripted protocol-v1 server and end to end against `kefu demo`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testkit.browser import (
    AI,
    CONV,
    EN_CONFIG,
    SHOP,
    SITE_KEY,
    XSS,
    ZH_CONFIG,
    Conn,
    FakeServer,
    FrameLog,
    KefuDemo,
    Watch,
    ask,
    expect,
    open_chat,
    part,
    robot_rows,
    shot,
    visitor_rows,
    wait_until,
)

pytestmark = pytest.mark.browser

# ---------------------------------------------------------------- scripted-server tests


def test_handshake_config_and_streamed_answer(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop
    page.goto(f"{SHOP}/demo")
    expect(part(page, "launcher")).to_be_visible()
    expect(part(page, "panel")).to_be_hidden()
    assert server.conns == []  # nothing connects before the visitor opens the chat
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")

    hello = server.sent("hello")[0]
    assert hello["visitor"] is None
    assert hello["locale"] == "zh-CN"
    assert page.evaluate(f"localStorage.getItem('kefu.visitor.{SITE_KEY}')") == "v-token-1"

    expect(part(page, "title")).to_have_text(ZH_CONFIG["title"])
    expect(part(page, "attribution")).to_have_text("技术支持：Kefu")
    expect(part(page, "disclaimer")).to_have_text(ZH_CONFIG["disclaimer"])
    expect(part(page, "greeting")).to_have_text(ZH_CONFIG["greeting"])
    assert server.sent("message") == []  # the greeting is local, not a message

    ask(page, "怎么申请退款")
    expect(visitor_rows(page).first).to_have_attribute("data-state", "sent")
    answer = robot_rows(page).first
    expect(answer.locator(".bubble")).to_have_text("您问的是：怎么申请退款")
    expect(answer.locator('[data-kefu="ai-label"]')).to_have_text("内容由AI生成")
    assert json.loads(answer.get_attribute("data-ai") or "{}") == AI
    expect(part(page, "typing")).to_be_hidden()

    message = server.sent("message")[0]
    assert message["text"] == "怎么申请退款"
    assert 0 < len(message["id"]) <= 64
    # The brand colour from config.theme reaches the launcher.
    color = part(page, "launcher").evaluate("b => getComputedStyle(b).backgroundColor")
    assert color == "rgb(228, 87, 46)"

    page.reload()
    expect(part(page, "panel")).to_be_visible()  # stays open across a reload (same tab)
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    assert server.sent("hello")[-1]["visitor"] == "v-token-1"


def test_history_roles_and_plain_text(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, watch = shop
    server.history = [
        {"id": "m1", "role": "visitor", "text": XSS, "at": CONV["started_at"], "client_id": "c1"},
        {"id": "m2", "role": "robot", "text": "<b>bold</b>", "at": CONV["started_at"], "ai": AI},
        {"id": "m3", "role": "agent", "text": "人工客服小王为您服务", "at": CONV["started_at"]},
        {"id": "m4", "role": "system", "text": "客服已接入", "at": CONV["started_at"]},
    ]
    open_chat(page)
    messages = part(page, "messages")
    expect(visitor_rows(page)).to_have_text([XSS])
    expect(robot_rows(page).locator(".bubble")).to_have_text(["<b>bold</b>"])
    expect(robot_rows(page).locator('[data-kefu="ai-label"]')).to_have_text(["内容由AI生成"])
    expect(messages.locator('[data-role="agent"] .bubble')).to_have_text("人工客服小王为您服务")
    expect(messages.locator('[data-role="system"]')).to_have_text("客服已接入")
    ask(page, XSS)
    expect(robot_rows(page).nth(1).locator(".bubble")).to_have_text(f"您问的是：{XSS}")
    page.wait_for_timeout(300)
    assert messages.locator("img, b").count() == 0
    assert watch.dialogs == []


def test_typing_indicator_always_clears(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop
    server.auto_reply = False
    open_chat(page)
    typing = part(page, "typing")

    ask(page, "第一个问题")
    wait_until(page, lambda: len(server.sent("message")) == 1)
    first = server.sent("message")[0]["id"]
    server.last.send({"type": "reply.start", "reply": "r1", "to": first})
    expect(typing).to_be_visible()
    server.last.send(
        {"type": "error", "code": "unavailable", "message": "x", "id": first, "retry_after": None}
    )
    expect(typing).to_be_hidden()

    ask(page, "第二个问题")
    wait_until(page, lambda: len(server.sent("message")) == 2)
    second = server.sent("message")[1]["id"]
    server.last.send({"type": "reply.start", "reply": "r2", "to": second})
    expect(typing).to_be_visible()
    server.last.send({"type": "ended", "conversation": CONV, "reason": "idle"})
    expect(typing).to_be_hidden()

    server.last.send({"type": "reply.start", "reply": "r3", "to": second})
    expect(typing).to_be_visible()
    server.refusing = True
    server.last.close(1011)  # connection lost mid-answer, and the server stays away
    expect(part(page, "panel")).to_have_attribute("data-status", "reconnecting")
    expect(typing).to_be_hidden()
    server.refusing = False
    expect(part(page, "panel")).to_have_attribute("data-status", "ready", timeout=20_000)

    server.last.send({"type": "reply.start", "reply": "r4", "to": second})
    expect(typing).to_be_visible()
    server.last.send({"type": "reply.delta", "reply": "r4", "text": "部分"})
    server.last.send(
        {"type": "reply.end", "reply": "r4", "text": "完整的回答", "ai": AI, "sources": []}
    )
    expect(typing).to_be_hidden()
    expect(part(page, "messages").locator('[data-reply="r4"] .bubble')).to_have_text("完整的回答")


def test_offline_queue_resends_unacknowledged_ids_once(
    shop: tuple[Any, FakeServer, Watch],
) -> None:
    page, server, _ = shop
    open_chat(page)
    ask(page, "已确认的问题")
    expect(visitor_rows(page).first).to_have_attribute("data-state", "sent")
    acked_id = server.sent("message")[0]["id"]

    # The next message is stored but its ack is lost with the connection.
    server.auto_reply = False
    server.ack_messages = False
    ask(page, "没有确认的问题")
    wait_until(page, lambda: len(server.sent("message")) == 2)
    unacked_id = server.sent("message")[1]["id"]

    # While the server refuses connections, the visitor keeps typing.
    server.refusing = True
    server.last.close(1001)
    expect(part(page, "panel")).to_have_attribute("data-status", "reconnecting")
    ask(page, "离线时输入的问题")
    queued = visitor_rows(page).nth(2)
    expect(queued).to_have_attribute("data-state", "queued")
    offline_id = queued.get_attribute("data-client-id")
    assert offline_id and offline_id not in (acked_id, unacked_id)
    wait_until(page, lambda: len(server.conns) >= 3, timeout=15)  # it keeps trying

    server.ack_messages = True
    server.auto_reply = True
    server.refusing = False
    expect(part(page, "panel")).to_have_attribute("data-status", "ready", timeout=20_000)
    expect(visitor_rows(page)).to_have_count(3)
    for i in range(3):
        expect(visitor_rows(page).nth(i)).to_have_attribute("data-state", "sent")
    ids = [f["id"] for f in server.sent("message")]
    assert ids.count(acked_id) == 1  # never sent again after its ack
    assert ids.count(unacked_id) == 2  # resent once on the new connection, same id
    assert ids.count(offline_id) == 1
    assert ids[-2:] == [unacked_id, offline_id]  # in the order they were typed
    # The stored-but-unacknowledged message is not shown twice, and gets no second answer.
    expect(part(page, "messages").locator(f'[data-client-id="{unacked_id}"]')).to_have_count(1)
    expect(robot_rows(page)).to_have_count(2)


def test_suspended_shows_unavailable_and_does_not_spin(
    shop: tuple[Any, FakeServer, Watch],
) -> None:
    page, server, _ = shop

    def suspend(conn: Conn) -> bool:
        conn.send(
            {
                "type": "notice",
                "kind": "suspended",
                "text": "本店客服服务已暂停",
                "starts_at": None,
                "ends_at": None,
            }
        )
        conn.close(4403)
        return True

    server.on_connect = suspend
    page.goto(f"{SHOP}/demo")
    part(page, "launcher").click()
    state = part(page, "unavailable")
    expect(state).to_be_visible()
    expect(state).to_contain_text("服务暂不可用")
    expect(state).to_contain_text("本店客服服务已暂停")
    expect(part(page, "input")).to_be_disabled()
    expect(part(page, "attribution")).to_be_visible()
    page.wait_for_timeout(3000)
    assert len(server.conns) == 1
    shot(page, "mock-suspended")


def test_maintenance_close_code(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop

    def maintenance(conn: Conn) -> bool:
        conn.close(4503)
        return True

    server.on_connect = maintenance
    page.goto(f"{SHOP}/demo")
    part(page, "launcher").click()
    expect(part(page, "unavailable")).to_contain_text("系统维护中")
    expect(part(page, "send")).to_be_disabled()
    page.wait_for_timeout(2500)
    assert len(server.conns) == 1


def test_maintenance_announcement_banner(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop
    original_handle = server.handle

    def with_notice(conn: Conn, frame: dict[str, Any]) -> None:
        original_handle(conn, frame)
        if frame["type"] == "hello":
            conn.send(
                {
                    "type": "notice",
                    "kind": "maintenance",
                    "text": "系统将于明晚 23:00 维护",
                    "starts_at": "2099-01-01T23:00:00+08:00",
                    "ends_at": "2099-01-02T01:00:00+08:00",
                }
            )

    server.handle = with_notice  # type: ignore[method-assign]
    open_chat(page)
    expect(part(page, "banner")).to_be_visible()
    expect(part(page, "banner")).to_contain_text("系统将于明晚 23:00 维护")
    expect(part(page, "input")).to_be_enabled()


def test_errors_and_input_limit(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop
    server.auto_reply = False
    original_handle = server.handle

    def limit(conn: Conn, frame: dict[str, Any]) -> None:
        if frame["type"] == "message":
            conn.send(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": "slow down",
                    "id": frame["id"],
                    "retry_after": 7,
                }
            )
        else:
            original_handle(conn, frame)

    server.handle = limit  # type: ignore[method-assign]
    open_chat(page)
    ask(page, "太快了")
    row = visitor_rows(page).first
    expect(row).to_have_attribute("data-state", "failed")
    expect(row).to_contain_text("7 秒")

    server.last.send(
        {
            "type": "error",
            "code": "message_too_long",
            "message": "x",
            "id": None,
            "retry_after": None,
        }
    )
    expect(part(page, "error")).to_contain_text("2000")

    long_text = "长" * 1990 + "😀" * 20  # 2,010 code points, 2,030 UTF-16 units
    part(page, "input").fill(long_text)
    value = part(page, "input").input_value()
    assert len(value.encode("utf-16-le")) // 2 == 1990 + 2 * 10
    assert len(value) == 2000
    expect(part(page, "counter")).to_have_text("2000/2000")


def test_end_and_rate(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop
    original_handle = server.handle

    def closing(conn: Conn, frame: dict[str, Any]) -> None:
        if frame["type"] == "close":
            conn.send({"type": "ended", "conversation": CONV, "reason": "closed"})
        else:
            original_handle(conn, frame)

    server.handle = closing  # type: ignore[method-assign]
    open_chat(page)
    ask(page, "在吗")
    expect(robot_rows(page)).to_have_count(1)
    part(page, "end").click()
    expect(part(page, "messages").locator('[data-role="system"]')).to_have_text("您已结束本次对话")
    rating = part(page, "rating")
    expect(rating).to_be_visible()
    shot(page, "mock-rating")
    rating.locator('[data-score="4"]').click()
    expect(rating).to_have_attribute("data-acked", "true")
    assert server.sent("rating") == [{"type": "rating", "score": 4}]
    # The rating's ack names the ended conversation; it does not reopen it.
    part(page, "end").click()
    expect(part(page, "error")).to_have_text("当前没有进行中的对话")
    assert len(server.sent("close")) == 1


def test_english_ui_from_config(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, server, _ = shop
    server.config = dict(EN_CONFIG)
    open_chat(page)
    expect(part(page, "title")).to_have_text("Shop help")
    expect(part(page, "attribution")).to_have_text("Powered by Kefu")
    expect(part(page, "input")).to_have_attribute("placeholder", "Type your question…")
    ask(page, "How do I get a refund?")
    expect(robot_rows(page).locator('[data-kefu="ai-label"]')).to_have_text(["AI-generated"])


def test_public_api_and_no_other_globals(shop: tuple[Any, FakeServer, Watch]) -> None:
    page, _, _ = shop
    page.goto(f"{SHOP}/demo")
    expect(part(page, "launcher")).to_be_visible()
    assert page.evaluate("Object.keys(window.Kefu).sort()") == [
        "close",
        "identify",
        "open",
        "reset",
        "setLocale",
    ]
    page.evaluate("window.Kefu.open()")
    expect(part(page, "panel")).to_be_visible()
    page.evaluate("window.Kefu.close()")
    expect(part(page, "panel")).to_be_hidden()
    assert page.locator("[data-kefu-widget]").count() == 1
    # Host styles do not leak into the widget.
    page.add_style_tag(content="div, button { font-size: 40px !important; color: red !important; }")
    page.evaluate("window.Kefu.open()")
    size = part(page, "title").evaluate("e => getComputedStyle(e).fontSize")
    assert size == "15px"


def test_demo_end_to_end(demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo) -> None:
    page, watch, frames = demo_page
    response = page.goto(f"{kefu_demo.url}/demo")
    assert response is not None and response.ok
    assert page.locator('script[src^="/widget.js?key="]').count() == 1
    shot(page, "demo-page")

    launcher = part(page, "launcher")
    expect(launcher).to_be_visible()
    launcher.click()
    panel = part(page, "panel")
    expect(panel).to_have_attribute("data-status", "ready")
    welcome = frames.received("welcome")[0]
    config = welcome["config"]
    expect(part(page, "title")).to_have_text(config["title"])
    expect(part(page, "attribution")).to_contain_text("技术支持：")
    expect(part(page, "attribution")).to_have_text(config["attribution"])
    expect(part(page, "disclaimer")).to_have_text(config["disclaimer"])
    expect(part(page, "disclaimer")).not_to_be_empty()
    shot(page, "demo-open")

    ask(page, "退款多久能到账？")
    expect(visitor_rows(page).first).to_have_attribute("data-state", "sent")
    answer = robot_rows(page).first
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator('[data-kefu="ai-label"]')).to_have_text("内容由AI生成")
    expect(answer.locator(".bubble")).to_contain_text("退款")
    ai = json.loads(answer.get_attribute("data-ai") or "{}")
    assert ai["model"]
    expect(part(page, "typing")).to_be_hidden()
    shot(page, "demo-answer")

    ask(page, "How long does a refund take?")
    expect(robot_rows(page)).to_have_count(2)
    expect(robot_rows(page).nth(1)).to_have_attribute("data-state", "done")
    expect(robot_rows(page).nth(1).locator(".bubble")).to_contain_text("refund")

    page.reload()
    if not part(page, "panel").is_visible():
        part(page, "launcher").click()
    expect(panel).to_have_attribute("data-status", "ready")
    expect(visitor_rows(page).first.locator(".bubble")).to_have_text("退款多久能到账？")
    expect(robot_rows(page)).to_have_count(2)
    expect(robot_rows(page).first.locator('[data-kefu="ai-label"]')).to_have_text("内容由AI生成")
    assert frames.sent("hello")[-1]["visitor"] == welcome["visitor"]
    shot(page, "demo-history")

    ask(page, XSS)
    expect(robot_rows(page)).to_have_count(3)
    expect(visitor_rows(page).nth(2).locator(".bubble")).to_have_text(XSS)
    page.wait_for_timeout(500)
    assert part(page, "messages").locator("img").count() == 0
    assert watch.dialogs == []
    frames.assert_nothing_resent_after_ack()
    shot(page, "demo-xss")


def test_demo_on_a_phone(browser: Any, kefu_demo: KefuDemo) -> None:
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = Watch(page)
        page.goto(f"{kefu_demo.url}/demo")
        shot(page, "phone-page")
        part(page, "launcher").tap()
        expect(part(page, "panel")).to_have_attribute("data-status", "ready")
        part(page, "panel").evaluate("p => Promise.all(p.getAnimations().map(a => a.finished))")
        box = part(page, "panel").bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["width"] <= 390 + 0.5
        assert box["y"] + box["height"] <= 844 + 0.5
        ask(page, "多久发货")
        expect(robot_rows(page).first).to_have_attribute("data-state", "done")
        shot(page, "phone-answer")
        part(page, "minimise").tap()
        expect(part(page, "launcher")).to_be_visible()
        assert watch.errors == [] and watch.dialogs == []
    finally:
        context.close()


def test_demo_reconnects_after_the_server_restarts(
    demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo
) -> None:
    page, _, frames = demo_page
    page.goto(f"{kefu_demo.url}/demo")
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    ask(page, "退款多久能到账？")
    expect(robot_rows(page).first).to_have_attribute("data-state", "done")

    kefu_demo.stop()
    expect(part(page, "panel")).not_to_have_attribute("data-status", "ready")
    ask(page, "多久发货")
    queued = visitor_rows(page).nth(1)
    expect(queued).to_have_attribute("data-state", "queued")
    shot(page, "demo-offline")

    kefu_demo.start()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready", timeout=45_000)
    expect(visitor_rows(page).nth(1)).to_have_attribute("data-state", "sent")
    expect(robot_rows(page)).to_have_count(2)
    expect(robot_rows(page).nth(1)).to_have_attribute("data-state", "done")
    page.wait_for_timeout(1000)
    expect(robot_rows(page)).to_have_count(2)  # answered exactly once
    expect(visitor_rows(page)).to_have_count(2)
    frames.assert_nothing_resent_after_ack()
