"""Fixtures of the browser tests: one Chromium per module, the scripted shop and `kefu demo`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOP,
    SITE_KEY,
    FakeServer,
    FrameLog,
    HostSite,
    KefuDemo,
    Watch,
    playwright_api,
    render_demo,
    serve_widget,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shop(browser: Any) -> Iterator[tuple[Any, FakeServer, Watch]]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch = Watch(page)
    fetches = serve_widget(page, SHOP)
    page.route(
        f"{SHOP}/demo",
        lambda route: route.fulfill(body=render_demo(SITE_KEY), content_type="text/html"),
    )
    server = FakeServer(page)
    server.ui_fetches = fetches
    yield page, server, watch
    context.close()
    assert watch.errors == []
    assert watch.dialogs == []


@pytest.fixture
def kefu_demo(tmp_path: Path) -> Iterator[KefuDemo]:
    server = KefuDemo(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def demo_page(browser: Any, kefu_demo: KefuDemo) -> Iterator[tuple[Any, Watch, FrameLog]]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    frames = FrameLog(page)
    yield page, watch, frames
    context.close()
    assert watch.errors == []
    assert watch.dialogs == []


@pytest.fixture
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()
