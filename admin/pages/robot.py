"""The robot's settings: its model chain with the built-in fallback, and the widget's look with
a live preview (a page of its own, shown in a frame, redrawn as the form changes)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from admin.deps import ContextDep
from admin.i18n.errors import error_text
from admin.kb_access import KbReaderDep, KbWriterDep, licensee_for
from admin.render import render
from admin.services import robot as robot_settings
from core.chat import branding
from core.db.tables import Licensee
from core.errors import InvalidInput
from core.licensing import appearance, model_chain
from core.licensing.model_chain import SLOTS, ModelProvider

router = APIRouter()
DONE = {"saved": "kb.saved"}


def _base(licensee_id: str) -> str:
    return f"/admin/kb/{licensee_id}/robot"


def _page(
    request: Request,
    ctx: Any,
    licensee: Licensee,
    *,
    look: dict[str, str] | None = None,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> Response:
    links = ctx.db.read(
        lambda s: [model_chain.describe(r) for r in model_chain.rows(s, licensee.id)]
    )
    by_slot = {link["slot"]: link for link in links}
    return render(
        request,
        "kb_robot.html",
        {
            "licensee": licensee,
            "base": f"/admin/kb/{licensee.id}",
            "tab": "robot",
            "slots": [(slot, by_slot.get(slot)) for slot in SLOTS],
            "providers": [p.value for p in ModelProvider],
            "has_own": bool(links),
            "look": look or robot_settings.look_of(licensee),
            "error": error,
            "done": DONE.get(done, ""),
        },
        status=status,
    )


@router.get("/admin/kb/{licensee_id}/robot")
def robot(
    request: Request, ctx: ContextDep, principal: KbReaderDep, licensee_id: str, done: str = ""
) -> Response:
    return _page(request, ctx, licensee_for(ctx.db, principal, licensee_id), done=done)


def _text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _seconds(form: Any, name: str, default: float) -> float:
    raw = _text(form, name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(
            f"{name.replace('_', ' ')} must be a number of seconds",
            code="model.seconds",
            field=name,
        ) from None


@router.post("/admin/kb/{licensee_id}/robot/models/{slot}")
async def set_model(
    request: Request, ctx: ContextDep, principal: KbWriterDep, licensee_id: str, slot: int
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    form = await request.form()
    key = form.get("api_key", "")
    try:
        robot_settings.set_model(
            ctx.db,
            ctx.settings,
            principal,
            licensee_id,
            slot,
            provider=_text(form, "provider"),
            base_url=_text(form, "base_url"),
            model=_text(form, "model"),
            api_key=key if isinstance(key, str) and key else None,
            first_token_timeout=_seconds(form, "first_token_timeout", 10.0),
            total_timeout=_seconds(form, "total_timeout", 60.0),
        )
    except InvalidInput as exc:
        return _page(request, ctx, licensee, error=error_text(exc, request.state.lang), status=400)
    return RedirectResponse(f"{_base(licensee_id)}?done=saved", 303)


@router.post("/admin/kb/{licensee_id}/robot/models/{slot}/clear")
def clear_model(ctx: ContextDep, principal: KbWriterDep, licensee_id: str, slot: int) -> Response:
    licensee_for(ctx.db, principal, licensee_id)
    if slot not in SLOTS:
        raise HTTPException(404, "no such slot")
    robot_settings.clear_model(ctx.db, principal, licensee_id, slot)
    return RedirectResponse(f"{_base(licensee_id)}?done=saved", 303)


@router.post("/admin/kb/{licensee_id}/robot/look")
async def set_look(
    request: Request, ctx: ContextDep, principal: KbWriterDep, licensee_id: str
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    form = await request.form()
    look = {name: _text(form, name) for name in ("title", "greeting", "color", "position")}
    try:
        robot_settings.set_look(ctx.db, principal, licensee_id, look)
    except InvalidInput as exc:
        return _page(
            request, ctx, licensee, look=look, error=error_text(exc, request.state.lang), status=400
        )
    return RedirectResponse(f"{_base(licensee_id)}?done=saved", 303)


@router.get("/admin/kb/{licensee_id}/robot/preview")
def preview(
    request: Request,
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee_id: str,
    title: str | None = None,
    greeting: str | None = None,
    color: str | None = None,
    position: str | None = None,
) -> Response:
    """The widget as the end user would see it with these settings (saved ones by default)."""
    licensee = licensee_for(ctx.db, principal, licensee_id)
    lang = request.state.lang
    try:
        shown_title = appearance.check_text(
            title if title is not None else licensee.title, "title", appearance.MAX_TITLE_CHARS
        )
        shown_greeting = appearance.check_text(
            greeting if greeting is not None else licensee.greeting,
            "greeting",
            appearance.MAX_GREETING_CHARS,
        )
        shown_color = appearance.check_color(color or licensee.theme_color)
        shown_position = appearance.check_position(position or licensee.widget_position).value
        error = ""
    except InvalidInput as exc:
        shown_title, shown_greeting = licensee.title, licensee.greeting
        shown_color, shown_position = (
            appearance.check_color(licensee.theme_color),
            licensee.widget_position,
        )
        error = error_text(exc, request.state.lang)
    nonce = secrets.token_urlsafe(16)
    # The config the widget's welcome carries, with the settings being tried.
    config = appearance.widget_config(licensee, lang, ctx.settings.product_name)
    response = render(
        request,
        "kb_preview.html",
        {
            "nonce": nonce,
            "config": config,
            "title": shown_title or licensee.name,
            "greeting": shown_greeting or branding.DEFAULT_GREETING[lang],
            "color": shown_color,
            "position": shown_position,
            "error": error,
        },
    )
    # Shown in a frame of the console's own pages, and styled by its one nonced style block.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
