"""The widget over HTTP: its two scripts (gzip, ETag, a cache policy each) and the demo page."""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

import widget
from core.db.engine import Database
from core.db.tables import KeyKind
from core.errors import AuthError, InvalidInput
from core.licensing.appearance import check_color, check_position
from core.licensing.licensees import authenticate_key
from widget.assets import Asset, Look, assets

LOADER_CACHE = "public, max-age=300"  # short: a new release reaches every host page quickly
UI_CACHE = "public, max-age=31536000, immutable"  # the path names the content's digest
JS = "text/javascript; charset=utf-8"

router = APIRouter()
templates = Jinja2Templates(directory=str(widget.TEMPLATES_DIR))


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags or "*" in tags


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether the client takes gzip: named (or ``*``) with a quality above 0."""
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


def serve_script(request: Request, asset: Asset, cache: str) -> Response:
    gzipped = accepts_gzip(request.headers.get("accept-encoding", ""))
    # Each representation has its own strong ETag.
    etag = f'"{asset.digest}-gz"' if gzipped else asset.etag
    headers = {
        "Cache-Control": cache,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        # Host pages that isolate themselves (COEP) may still load the widget.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=JS, headers=headers)
    return Response(asset.body, media_type=JS, headers=headers)


def licensee_look(db: Database, site_key: str) -> Look | None:
    """The look of the licensee whose site key this is; None for an unknown or revoked key."""
    with db.read_session() as session:
        try:
            licensee = authenticate_key(session, site_key, {KeyKind.LIVE, KeyKind.TEST}).licensee
        except AuthError:
            return None
    try:
        color = check_color(licensee.theme_color)
        position = check_position(licensee.widget_position).value
    except InvalidInput:
        return None  # a value not set through `configure`: the default look, not a broken script
    return Look(color=color, position=position)


@router.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
async def loader(request: Request, key: str | None = None) -> Response:
    # A tag whose URL names the key gets a loader that carries the licensee's look, so the
    # launcher wears it from its first frame without a second request. The URL differs per key,
    # so caches keep one copy per key; the look reaches pages within LOADER_CACHE of a change.
    current = assets()
    look = None
    if key:
        db: Database = request.app.state.chat.db
        look = await asyncio.to_thread(licensee_look, db, key)
    return serve_script(request, current.loader_for(look) if look else current.loader, LOADER_CACHE)


@router.api_route("/widget/ui.{digest}.js", methods=["GET", "HEAD"], include_in_schema=False)
async def chat_ui(request: Request, digest: str) -> Response:
    current = assets()
    # A loader cached before a release may ask for the previous digest: it gets the current UI,
    # not a 404, but not for long.
    cache = UI_CACHE if digest == current.ui_digest else "no-cache"
    return serve_script(request, current.ui, cache)


def demo_csp(request: Request, nonce: str) -> str:
    """The strict policy the demo page runs under: the widget needs only its script and socket."""
    ws_origin = ("wss://" if request.url.scheme == "https" else "ws://") + request.url.netloc
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            f"connect-src 'self' {ws_origin}",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def demo_site_key(request: Request) -> str | None:
    key: str | None = request.app.state.demo_site_key
    return key


@router.get("/demo", response_class=HTMLResponse, include_in_schema=False)
async def demo(request: Request) -> Response:
    site_key = demo_site_key(request)
    if not site_key:
        return HTMLResponse("No demo here: start the server with `kefu demo`.", status_code=404)
    nonce = secrets.token_urlsafe(16)
    response = templates.TemplateResponse(
        request, "demo.html", {"site_key": site_key, "title": "Kefu Demo Shop", "nonce": nonce}
    )
    response.headers["Content-Security-Policy"] = demo_csp(request, nonce)
    return response
