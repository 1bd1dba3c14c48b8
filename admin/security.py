"""The one gate every console request passes: who is asking (session cookie or API token),
which language, and the CSRF check of every unsafe request a cookie authenticates."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from fastapi import HTTPException, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin.context import AdminContext
from admin.i18n import LANG_COOKIE, pick_language
from core.accounts import SESSION_COOKIE, Principal, resolve_session
from core.accounts.sessions import needs_touch, touch_session
from core.accounts.tokens import needs_touch as token_touch_due
from core.accounts.tokens import resolve_token, touch_token
from core.db.tables import AccessToken
from core.ids import sign
from core.types import utcnow

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# The sign-in form has no session yet: its token is tied to this cookie (signed double submit).
PRE_SESSION_COOKIE = "kefu_pre"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def context_of(request: Request) -> AdminContext:
    ctx: AdminContext = request.state.kefu_admin
    return ctx


def pre_session_token(ctx: AdminContext, cookie: str) -> str:
    return sign(ctx.settings.secret(), f"pre-session:{cookie}", 32)


def new_pre_session_cookie() -> str:
    return secrets.token_urlsafe(24)


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()  # cached by Starlette: the endpoint reads it again for free
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def _load(ctx: AdminContext, token: str | None) -> Principal | None:
    now = utcnow()
    principal = ctx.db.read(lambda s: resolve_session(s, token, now))
    if principal is not None and needs_touch(principal, now):
        ctx.db.run(lambda s: touch_session(s, principal.session_id, now))
    return principal


def _load_token(ctx: AdminContext, token: str) -> Principal | None:
    now = utcnow()
    principal = ctx.db.read(lambda s: resolve_token(s, token, now))
    if principal is not None and ctx.db.read(lambda s: token_needs_touch(s, principal, now)):
        ctx.db.run(lambda s: touch_token(s, principal.user_id, now))
    return principal


def token_needs_touch(session: Session, principal: Principal, now: datetime) -> bool:
    row = session.get(AccessToken, principal.user_id)
    return row is not None and token_touch_due(row, now)


async def gate(request: Request) -> None:
    """Resolve the principal and language into ``request.state``; refuse a forged request."""
    ctx = context_of(request)
    request.state.lang = pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language", ""),
    )
    principal: Principal | None = None
    bearer = request.headers.get("authorization", "")
    by_token = bearer[:7].lower() == "bearer "
    if by_token:
        principal = await run_in_threadpool(_load_token, ctx, bearer[7:].strip())
    elif SESSION_COOKIE in request.cookies:
        principal = await run_in_threadpool(_load, ctx, request.cookies[SESSION_COOKIE])
    request.state.principal = principal
    pre = request.cookies.get(PRE_SESSION_COOKIE, "")
    request.state.csrf = (
        principal.csrf_token
        if principal is not None and not by_token
        else pre_session_token(ctx, pre)
        if pre
        else ""
    )
    if request.method not in UNSAFE or by_token:
        return  # an API token is not sent by the browser on its own: no CSRF to fear
    if principal is None and request.url.path == "/admin/logout":
        return  # nothing to sign out of: harmless
    sent = await _sent_token(request)
    if not _same(sent, request.state.csrf):
        raise HTTPException(403, "missing or wrong CSRF token")
