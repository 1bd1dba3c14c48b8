"""What a visitor sees first, in Chromium: the licensee's look on the launcher from its first frame,
a focus ring that is not an error's, a footer without a lone last character, a whole title, and a
demo page that asks for no missing icon."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.chat import branding
from testkit.browser import (
    LAUNCHER_FRAMES,
    SHOP,
    SITE_KEY,
    FakeServer,
    FrameLog,
    KefuDemo,
    Watch,
    expect,
    open_chat,
    part,
    render_demo,
    serve_widget,
    shot,
)
from widget.assets import Look

pytestmark = pytest.mark.browser

Shop = tuple[Any, FakeServer, Watch]
DEMO_ORANGE = "rgb(228, 87, 46)"  # kefu demo's licensee colour, #e4572e


def test_a_first_visit_wears_the_licensees_colour_from_the_first_frame(
    demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo
) -> None:
    page, _, _ = demo_page
    page.add_init_script(LAUNCHER_FRAMES)
    page.goto(f"{kefu_demo.url}/demo")  # a new browser context: nothing stored, nothing cached
    expect(part(page, "launcher")).to_be_visible()
    shot(page, "first-look")
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    page.wait_for_timeout(200)
    # One look from the first frame on: no default blue before the chat connects.
    frames = page.evaluate("window.__launcher")
    assert [f.split(" at ")[0] for f in frames] == [DEMO_ORANGE], frames


def test_a_keyed_loader_places_and_colours_the_launcher_before_any_connection(
    shop: Shop,
) -> None:
    page, server, _ = shop
    serve_widget(page, SHOP, Look(color="#0a7d32", position="left"))
    page.add_init_script(LAUNCHER_FRAMES)
    page.goto(f"{SHOP}/demo")
    expect(part(page, "launcher")).to_be_visible()
    page.wait_for_timeout(200)
    assert page.evaluate("window.__launcher") == ["rgb(10, 125, 50) at x=20"]
    assert server.conns == [] and server.ui_fetches == []


def test_the_focused_input_has_a_neutral_ring(shop: Shop) -> None:
    page, server, _ = shop
    assert server.config["theme"] == {"color": "#e4572e"}  # a red-orange brand
    open_chat(page)
    box = part(page, "input")
    box.focus()
    expect(box).to_be_focused()
    red, green, blue = box.evaluate(
        "e => getComputedStyle(e).borderTopColor.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    # Grey, not the brand's orange (or any hue that could read as an error).
    assert max(red, green, blue) - min(red, green, blue) < 30, (red, green, blue)
    ring = box.evaluate("e => getComputedStyle(e).boxShadow")
    assert "228, 87, 46" not in ring and "47, 111, 237" not in ring, ring


@pytest.fixture
def phone(browser: Any) -> Iterator[tuple[Any, FakeServer]]:
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch = Watch(page)
    serve_widget(page, SHOP)
    page.route(
        f"{SHOP}/demo",
        lambda route: route.fulfill(body=render_demo(SITE_KEY), content_type="text/html"),
    )
    yield page, FakeServer(page)
    context.close()
    assert watch.errors == [] and watch.dialogs == []


# The footer's lines: the text on each and its width.
FOOT_LINES = """foot => {
  const lines = new Map();
  const walker = document.createTreeWalker(foot, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (!box.width) continue;
      const top = Math.round(box.top);
      const line = lines.get(top) || {text: "", left: box.left, right: box.right};
      line.text += node.data[i];
      line.left = Math.min(line.left, box.left);
      line.right = Math.max(line.right, box.right);
      lines.set(top, line);
    }
  }
  return [...lines.entries()].sort((a, b) => a[0] - b[0])
    .map(([, l]) => [l.text.trim(), l.right - l.left]);
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_footer_wraps_evenly_on_a_phone(phone: tuple[Any, FakeServer], lang: str) -> None:
    page, server = phone
    server.config = dict(
        server.config,
        disclaimer=branding.DISCLAIMER[lang],
        attribution=branding.attribution("Kefu", lang),
    )
    page.goto(f"{SHOP}/demo")
    part(page, "launcher").tap()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")
    expect(part(page, "disclaimer")).to_have_text(branding.DISCLAIMER[lang])
    lines = part(page, "panel").locator(".foot").evaluate(FOOT_LINES)
    assert len(lines) >= 2, lines  # the case that matters: it does wrap at 390 px
    texts, widths = zip(*lines, strict=True)
    # No lone last character or word ("准。" by itself): the last line holds a fair share.
    assert len(texts[-1]) >= 4, lines
    assert widths[-1] >= widths[0] / 3, lines


def test_a_long_title_is_shown_whole_on_a_desktop(shop: Shop) -> None:
    page, server, _ = shop
    server.config = dict(server.config, title="客服演示商城 · Demo Shop")
    open_chat(page)
    title = part(page, "title")
    expect(title).to_have_text("客服演示商城 · Demo Shop")
    clipped = title.evaluate(
        "e => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight"
    )
    assert not clipped, title.evaluate("e => [e.scrollWidth, e.clientWidth, e.scrollHeight]")


def test_the_demo_page_asks_for_no_missing_icon(
    demo_page: tuple[Any, Watch, FrameLog], kefu_demo: KefuDemo
) -> None:
    page, _, _ = demo_page
    page.goto(f"{kefu_demo.url}/demo")
    expect(part(page, "launcher")).to_be_visible()
    page.wait_for_timeout(1000)  # the browser asks for an icon after the page has loaded
    log = kefu_demo.log()
    assert "GET /demo" in log
    assert "favicon" not in log and " 404" not in log, log
