"""What a visitor sees first, in Chromium: the licensee's look on the launcher from its first frame."""

from __future__ import annotations

from typing import Any

import pytest

from tests.widget.browser import (
    LAUNCHER_FRAMES,
    SHOP,
    FakeServer,
    FrameLog,
    KefuDemo,
    Watch,
    expect,
    part,
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
