"""Hand-off in two browsers against `kefu demo`: an end user on the demo shop asks for a person,
an agent accepts in /agent, they talk both ways, a reload keeps it, the agent closes and the end
user rates; and with nobody online, the end user leaves a message that the agent finds later.
Screenshots of each state are kept in test-artifacts/ (the ones in docs/images/ come from here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from testkit.browser import KefuDemo, Watch, ask, expect, part, shot

pytestmark = pytest.mark.slow
PASSWORD = "agent-password-2026"


@pytest.fixture
def agent_email(kefu_demo: KefuDemo) -> str:
    [licensee] = kefu_demo.cli("licensee", "list")["licensees"]
    email = "xiaowang@demo-shop.example"
    kefu_demo.cli(
        "user",
        "create",
        "--licensee",
        licensee["id"],
        "--role",
        "agent",
        "--email",
        email,
        "--password",
        PASSWORD,
        "--name",
        "小王",
    )
    return email


@pytest.fixture
def two(browser: Any) -> Iterator[tuple[Any, Any, Watch, Watch]]:
    user_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 760})
    agent_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 820})
    user, agent = user_ctx.new_page(), agent_ctx.new_page()
    for page in (user, agent):
        page.set_default_timeout(15_000)
    user_watch, agent_watch = Watch(user), Watch(agent)
    yield user, agent, user_watch, agent_watch
    user_ctx.close()
    agent_ctx.close()
    assert user_watch.errors == [] and agent_watch.errors == []


def sign_in_agent(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/admin/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{url}/agent")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "online")


def open_widget(page: Any, url: str) -> None:
    page.goto(f"{url}/demo")
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")


def test_an_end_user_and_an_agent(
    two: tuple[Any, Any, Watch, Watch], kefu_demo: KefuDemo, agent_email: str
) -> None:
    user, agent, _, agent_watch = two
    url = kefu_demo.url
    sign_in_agent(agent, url, agent_email)
    open_widget(user, url)
    person = part(user, "person")
    expect(person).to_be_visible()  # the demo shop has an agent now
    expect(person).to_have_text("转人工")
    person.click()
    expect(part(user, "handoff").last).to_contain_text("正在为您转接人工客服")
    expect(part(user, "panel")).to_have_attribute("data-person", "queued")
    shot(user, "handoff-widget-queued")

    # The agent's queue shows the request live; Alt+A takes the oldest.
    expect(agent.locator("#queue .item")).to_have_count(1)
    expect(agent.locator("#queue .preview")).to_have_text("转人工")
    shot(agent, "handoff-console-queue")
    agent.keyboard.press("Alt+A")
    expect(agent.locator("#mine .conv")).to_have_count(1)
    expect(agent.locator("#queue .item")).to_have_count(0)
    expect(part(user, "panel")).to_have_attribute("data-person", "assigned")
    expect(part(user, "status")).to_have_text("小王")

    # Agent -> end user, markup inert; end user -> agent.
    agent.fill("#reply-text", "<b>您好</b>，我是小王 <img src=x onerror=alert(1)>")
    agent.press("#reply-text", "Enter")
    said = part(user, "messages").locator('[data-role="agent"]').last
    expect(said).to_contain_text("<b>您好</b>，我是小王 <img src=x onerror=alert(1)>")
    assert said.locator("b, img").count() == 0
    assert said.locator(".ai-label").count() == 0  # a person's words carry no AI label
    expect(said.locator(".who")).to_have_text("小王")
    ask(user, "我的快递三天没动了")
    expect(agent.locator("#transcript .msg.visitor .msg-text").last).to_have_text(
        "我的快递三天没动了"
    )
    # The robot stays silent while a person holds the conversation.
    user.wait_for_timeout(500)
    assert part(user, "messages").locator('[data-role="robot"]').count() == 0

    # Canned answers from the knowledge base, searched as the agent types.
    agent.fill("#canned", "物流")
    expect(agent.locator("#canned-results .canned").first).to_be_visible()
    agent.locator("#canned-results .canned").first.click()
    assert agent.input_value("#reply-text")
    agent.fill("#reply-text", "我帮您查一下物流。")
    agent.press("#reply-text", "Enter")
    expect(part(user, "messages").locator('[data-role="agent"]')).to_have_count(2)
    shot(agent, "handoff-console")
    shot(user, "handoff-widget-assigned")

    # A reload keeps the agent's conversation.
    user.reload()  # the chat left open reopens by itself
    expect(part(user, "panel")).to_be_visible()
    expect(part(user, "panel")).to_have_attribute("data-person", "assigned")
    expect(part(user, "messages").locator('[data-role="agent"]')).to_have_count(2)
    expect(part(user, "status")).to_have_text("小王")

    # The agent closes it; the end user rates it.
    agent.click("#close")
    expect(agent.locator("#close")).to_have_text("再按一次结束会话")
    agent.click("#close")
    expect(part(user, "rating")).to_be_visible()
    expect(part(user, "messages")).to_contain_text("客服已结束本次对话")
    part(user, "rating").locator('[data-score="5"]').click()
    expect(part(user, "rating")).to_have_attribute("data-acked", "true")
    expect(agent.locator("#mine .conv")).to_have_count(0)
    assert agent_watch.dialogs == []
    shot(user, "handoff-widget-ended")


def test_nobody_online_leaves_a_message(
    two: tuple[Any, Any, Watch, Watch], kefu_demo: KefuDemo, agent_email: str
) -> None:
    user, agent, _, _ = two
    url = kefu_demo.url
    open_widget(user, url)
    expect(part(user, "person")).to_be_visible()
    ask(user, "转人工")  # the phrase asks as the button does
    expect(part(user, "handoff").last).to_contain_text("现在没有人工客服在线")
    leave = part(user, "leave")
    expect(leave).to_be_visible()
    leave.locator("input").fill("13800000000")
    leave.locator("textarea").fill("请明天上午回电，<script>x</script>")
    shot(user, "handoff-widget-unavailable")
    leave.locator("button").click()
    expect(part(user, "messages")).to_contain_text("留言已收到")
    assert part(user, "messages").locator('[data-role="robot"]').count() == 0

    sign_in_agent(agent, url, agent_email)
    agent.goto(f"{url}/agent/left")
    row = agent.locator("table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("13800000000")
    expect(row).to_contain_text("请明天上午回电，<script>x</script>")
    shot(agent, "handoff-left-messages")
    row.locator("button").click()
    expect(agent.locator("table tbody tr")).to_have_count(0)
