"""Helpers of the browser tests: Chromium settings, a scripted protocol-v1 server, `kefu demo`."""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest

import widget
from widget import assets
from widget.assets import Look

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"


# ---------------------------------------------------------------- browser


class Watch:
    """Dialogs and uncaught script errors of one page: both must stay empty."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the panel's opening animation finish
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def part(page: Any, name: str) -> Any:
    """A widget element by its data-kefu name (CSS locators pierce the open shadow root)."""
    return page.locator(f'[data-kefu="{name}"]')


def wait_until(page: Any, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a Python-side condition while Playwright keeps dispatching events."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(50)


# Run before a page's own scripts: every colour and left edge the launcher shows, frame by frame
# (a change is recorded once), from the first frame in which it has a box.
LAUNCHER_FRAMES = """
window.__launcher = [];
(function tick() {
  const host = document.querySelector("kefu-widget");
  const button = host && host.shadowRoot && host.shadowRoot.querySelector('[data-kefu="launcher"]');
  const box = button && button.getBoundingClientRect();
  if (box && box.width > 0) {
    const seen = getComputedStyle(button).backgroundColor + " at x=" + Math.round(box.x);
    if (window.__launcher[window.__launcher.length - 1] !== seen) window.__launcher.push(seen);
  }
  requestAnimationFrame(tick);
})();
"""


# ---------------------------------------------------------------- a scripted server


SHOP = "http://shop.test"
SITE_KEY = "pk_test_widget"

ZH_CONFIG = {
    "title": "演示商城客服",
    "greeting": "您好！我是智能客服，请问有什么可以帮您？",
    "attribution": "技术支持：Kefu",
    "ai_label": "内容由AI生成",
    "disclaimer": "AI 回答仅供参考，可能不准确",
    "locale": "zh-CN",
    "theme": {"color": "#e4572e"},
}
EN_CONFIG = {
    **ZH_CONFIG,
    "title": "Shop help",
    "greeting": "Hi! How can I help?",
    "attribution": "Powered by Kefu",
    "ai_label": "AI-generated",
    "disclaimer": "AI answers may be inaccurate",
    "locale": "en",
}
AI = {"label": "内容由AI生成", "producer": "kefu", "model": "kb-answerer", "content_id": "c-1"}
CONV = {"id": "conv-1", "started_at": "2025-01-02T10:00:00+08:00"}


class Conn:
    """One WebSocket the widget opened to the scripted server."""

    def __init__(self, server: FakeServer, route: Any) -> None:
        self.server = server
        self.route = route
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        route.on_message(self._on_message)
        route.on_close(self._on_close)

    def send(self, frame: dict[str, Any]) -> None:
        self.server.log.append(("out", frame))
        self.route.send(json.dumps(frame))

    def close(self, code: int) -> None:
        self.closed = True
        self.route.close(code=code, reason="")

    def _on_close(self, code: int | None, reason: str | None) -> None:
        self.closed = True

    def _on_message(self, raw: str | bytes) -> None:
        frame = json.loads(raw)
        self.frames.append(frame)
        self.server.log.append(("in", frame))
        self.server.handle(self, frame)


class FakeServer:
    """Speaks protocol v1 like the real server; each test scripts what differs."""

    def __init__(self, page: Any) -> None:
        self.conns: list[Conn] = []
        self.log: list[tuple[str, dict[str, Any]]] = []
        self.config: dict[str, Any] = dict(ZH_CONFIG)
        self.history: list[dict[str, Any]] = []
        self.welcome_extra: dict[str, Any] = {}  # optional welcome fields (e.g. more_history)
        self.stored: set[str] = set()
        self.auto_reply = True
        self.ack_messages = True
        self.on_connect: Callable[[Conn], bool] | None = None
        self.refusing = False  # True: every new connection is closed at once (server away)
        self.replies = 0
        self.ui_fetches: list[str] = []
        page.route_web_socket(
            lambda url: url == f"ws://shop.test/v1/chat?key={SITE_KEY}", self._accept
        )

    def _accept(self, route: Any) -> None:
        conn = Conn(self, route)
        self.conns.append(conn)
        if self.refusing:
            conn.close(1011)
            return
        if self.on_connect is not None and self.on_connect(conn):
            return

    def handle(self, conn: Conn, frame: dict[str, Any]) -> None:
        if frame["type"] == "hello":
            conn.send(
                {
                    "type": "welcome",
                    "visitor": frame["visitor"] or "v-token-1",
                    "conversation": CONV if self.history else None,
                    "history": self.history,
                    "config": self.config,
                    "notice": None,
                    **self.welcome_extra,
                }
            )
        elif frame["type"] == "message":
            repeated = frame["id"] in self.stored
            if not repeated:
                self.stored.add(frame["id"])
                self.history.append(
                    {
                        "id": f"m-{len(self.history)}",
                        "role": "visitor",
                        "text": frame["text"],
                        "at": CONV["started_at"],
                        "client_id": frame["id"],
                    }
                )
            if self.ack_messages:
                conn.send({"type": "ack", "id": frame["id"], "conversation": CONV})
            if self.auto_reply and not repeated:
                self.reply(conn, frame["id"], f"您问的是：{frame['text']}")
        elif frame["type"] == "rating":
            conn.send({"type": "ack", "id": None, "conversation": CONV})

    def reply(self, conn: Conn, to: str, text: str) -> None:
        self.replies += 1
        rid = f"r-{self.replies}"
        conn.send({"type": "reply.start", "reply": rid, "to": to})
        half = len(text) // 2
        conn.send({"type": "reply.delta", "reply": rid, "text": text[:half]})
        conn.send({"type": "reply.delta", "reply": rid, "text": text[half:]})
        conn.send({"type": "reply.end", "reply": rid, "text": text, "ai": AI, "sources": []})
        self.history.append(
            {"id": rid, "role": "robot", "text": text, "at": CONV["started_at"], "ai": AI}
        )

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [f for d, f in self.log if d == "in" and f["type"] == kind]

    @property
    def last(self) -> Conn:
        return self.conns[-1]


def serve_widget(page: Any, origin: str, look: Look | None = None) -> list[str]:
    """Serve the loader and the chat UI as the product does; the list collects UI fetches.

    A loader asked for with ``?key=`` carries ``look``, as the server's does for a known key."""
    built = assets.build()
    fetched: list[str] = []

    def ui(route: Any) -> None:
        fetched.append(route.request.url)
        route.fulfill(body=built.ui.body, content_type="text/javascript")

    def loader(route: Any) -> None:
        keyed = "key" in urllib.parse.parse_qs(urllib.parse.urlsplit(route.request.url).query)
        asset = built.loader_for(look) if keyed and look else built.loader
        route.fulfill(body=asset.body, content_type="text/javascript")

    page.route(re.compile(re.escape(f"{origin}/widget.js") + r"(\?.*)?$"), loader)
    page.route(f"{origin}/widget/ui.*.js", ui)
    return fetched


def render_demo(site_key: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(widget.TEMPLATES_DIR), autoescape=True)
    return env.get_template("demo.html").render(site_key=site_key, title="Kefu Demo Shop")


def open_chat(page: Any) -> None:
    page.goto(f"{SHOP}/demo")
    part(page, "launcher").click()
    expect(part(page, "panel")).to_have_attribute("data-status", "ready")


def ask(page: Any, text: str) -> None:
    part(page, "input").fill(text)
    part(page, "input").press("Enter")


def visitor_rows(page: Any) -> Any:
    return part(page, "messages").locator('[data-role="visitor"]')


def robot_rows(page: Any) -> Any:
    return part(page, "messages").locator('[data-role="robot"]')


# ---------------------------------------------------------------- the real server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KefuDemo:
    """`kefu demo` in a subprocess, on a fixed port and database so that it can restart."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "kefu-demo.log"
        self.cwd = tmp
        # Only these settings: no model endpoint, so the built-in answerer answers; lexical
        # retrieval, so that answers do not change when the sentence encoder finishes loading.
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KEFU_")},
            "KEFU_DATABASE_URL": f"sqlite:///{tmp / 'kefu.db'}",
            "KEFU_SECRET_KEY": secrets.token_urlsafe(32),
            "KEFU_RETRIEVAL_ENCODER": "off",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        kefu = Path(sys.executable).parent / "kefu"
        assert kefu.exists(), "the kefu command is not installed in this environment"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - the installed kefu, arguments of our own
            [str(kefu), "demo", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"kefu demo exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(
                        f"kefu demo did not listen in 20 s:\n{self.log()}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def demo_site_key(self) -> str:
        """The live site key the demo page embeds."""
        html = httpx.get(f"{self.url}/demo", timeout=10).raise_for_status().text
        match = re.search(r'src="/widget\.js\?key=([^"&]+)"', html)
        assert match, "the demo page embeds no site key"
        return urllib.parse.unquote(match.group(1))

    def cli(self, *args: str) -> Any:
        """Run `kefu ARGS --json` against this demo's database and return its JSON output."""
        kefu = Path(sys.executable).parent / "kefu"
        out = subprocess.run(  # noqa: S603 - the installed kefu, arguments of our own
            [str(kefu), *args, "--json"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(out.stdout)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


class FrameLog:
    """Every frame the page sent and received over its WebSockets, in order."""

    def __init__(self, page: Any) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        ws.on("framesent", lambda payload: self._add("out", payload))
        ws.on("framereceived", lambda payload: self._add("in", payload))

    def _add(self, direction: str, payload: str | bytes) -> None:
        try:
            frame = json.loads(payload)
        except ValueError:
            frame = {"type": "<not json>"}
        self.events.append((direction, frame))

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [f for d, f in self.events if d == "out" and f.get("type") == kind]

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [f for d, f in self.events if d == "in" and f.get("type") == kind]

    def assert_nothing_resent_after_ack(self) -> None:
        acked: set[str] = set()
        for direction, frame in self.events:
            if direction == "in" and frame.get("type") == "ack" and frame.get("id"):
                acked.add(frame["id"])
            if direction == "out" and frame.get("type") == "message":
                assert frame["id"] not in acked, f"message {frame['id']} sent again after its ack"


class HostSite:
    """A host page on its own loopback origin (a real HTTP server: Chromium refuses loopback
    sockets from pages that did not come from the network)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page(self, path: str, script: str, lang: str = "zh-CN") -> str:
        self.pages[path] = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"></head><body>'
            f"<h1>Host page</h1>{script}</body></html>"
        )
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
