"""Sign-in, sign-out and password change pages."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from admin.deps import ContextDep, PrincipalDep
from admin.i18n import translate
from admin.i18n.errors import error_text
from admin.render import render
from admin.security import PRE_SESSION_COOKIE, new_pre_session_cookie, pre_session_token
from core import audit
from core.accounts import SESSION_COOKIE, Principal, Role, end_session, start_session
from core.accounts.sessions import SESSION_LIFETIME
from core.accounts.users import (
    check_sign_in,
    find_user,
    get_user,
    prepare_password_change,
    record_failure,
    record_success,
    store_password,
)
from core.db.tables import User
from core.errors import InvalidInput
from core.types import utcnow

router = APIRouter()
HOME = "/admin"
AGENT_HOME = "/agent"
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this server, else None: no scheme, no ``//host``, no
    backslash (browsers read ``/\\host`` as ``//host``), no control characters or spaces."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return None
    if value.startswith("//") or _CONTROL.search(value):
        return None
    return value


def landing(principal_role: Role, next_path: str | None) -> str:
    if principal_role == Role.AGENT:
        return next_path if next_path and next_path.startswith(AGENT_HOME) else AGENT_HOME
    return next_path or HOME


def _is_https(request: Request) -> bool:
    # uvicorn's proxy_headers turn a trusted proxy's X-Forwarded-Proto into the scheme.
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> Response:
    ctx_cookie = request.cookies.get(PRE_SESSION_COOKIE, "")
    fresh = "" if ctx_cookie else new_pre_session_cookie()
    if fresh:
        request.state.csrf = pre_session_token(request.state.kefu_admin, fresh)
    response = render(
        request,
        "login.html",
        {"next": next_path, "email": email, "error": error, "notice": notice},
        status,
    )
    if fresh:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            fresh,
            httponly=True,
            samesite="lax",
            secure=_is_https(request),
            path="/admin",
        )
    return response


@router.get("/admin/login")
def login_form(request: Request, next: str | None = None, signed_out: int = 0) -> Response:
    principal: Principal | None = request.state.principal
    target = safe_next(next)
    if principal is not None:
        return RedirectResponse(landing(principal.role, target), 303)
    notice = translate("auth.signed_out", request.state.lang) if signed_out else ""
    return _login_page(request, next_path=target or "", notice=notice)


@router.post("/admin/login")
async def login(
    request: Request,
    ctx: ContextDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    lang: str = request.state.lang
    target = safe_next(next)
    address = request.client.host if request.client else "unknown"
    wait = await ctx.limiter.hit(f"admin-login:{address}", ctx.login_rate)
    if wait is not None:
        message = translate("auth.slow_down", lang, seconds=max(1, round(wait)))
        return _login_page(request, next_path=target or "", email=email, error=message, status=429)
    now = utcnow()
    user: User | None = await run_in_threadpool(
        ctx.db.read, lambda s: find_user(s, email) if email else None
    )
    outcome = await run_in_threadpool(check_sign_in, user, password, now)
    if outcome.user is None:
        locked = outcome.locked_until
        if user is not None and locked is None:
            failed = user

            def fail(s: Session) -> datetime | None:
                just = record_failure(s, failed.id, now)
                if just is not None:
                    audit.record(
                        s,
                        actor=None,
                        action="user.locked",
                        target=failed.id,
                        before=None,
                        after={"locked_until": just, "address": address},
                        now=now,
                        licensee_id=failed.licensee_id,
                    )
                return just

            locked = await ctx.db.write(fail)
        key = "auth.locked" if locked is not None else "auth.bad"
        return _login_page(
            request,
            next_path=target or "",
            email=email,
            error=translate(key, lang),
            status=401,
        )
    signed_in = outcome.user
    old = request.cookies.get(SESSION_COOKIE)

    def sign_in(s: Session) -> str:
        record_success(s, signed_in.id, outcome.rehash)
        if old:
            end_session(s, old)  # never reuse a token (fixation)
        return start_session(s, signed_in, now)

    token: str = await ctx.db.write(sign_in)
    response = RedirectResponse(landing(Role(signed_in.role), target), 303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
        path="/",
    )
    response.delete_cookie(PRE_SESSION_COOKIE, path="/admin")
    return response


@router.post("/admin/logout")
async def logout(request: Request, ctx: ContextDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await ctx.db.write(lambda s: end_session(s, token))
    response = RedirectResponse("/admin/login?signed_out=1", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/admin/password")
def password_form(request: Request, principal: PrincipalDep) -> Response:
    done = request.query_params.get("done")
    notice = translate("auth.zone_saved", request.state.lang) if done == "timezone" else ""
    return render(request, "password.html", {"error": "", "notice": notice})


@router.post("/admin/password")
async def change_password(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    current: Annotated[str, Form(max_length=1000)] = "",
    new: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    lang: str = request.state.lang
    if new != confirm:
        error = translate("auth.mismatch", lang)
        return render(request, "password.html", {"error": error, "notice": ""}, 400)
    user = await run_in_threadpool(ctx.db.read, lambda s: get_user(s, principal.user_id))
    try:
        new_hash = await run_in_threadpool(prepare_password_change, user, current, new)
    except InvalidInput as exc:
        error = error_text(exc, lang)
        return render(request, "password.html", {"error": error, "notice": ""}, 400)
    now = utcnow()

    def store(s: Session) -> None:
        store_password(s, principal.user_id, new_hash, keep_session=principal.session_id)
        audit.record(
            s,
            actor=principal,
            action="user.password_changed",
            target=principal.user_id,
            before=None,
            after={"other_sessions_ended": True},
            now=now,
        )

    await ctx.db.write(store)
    notice = translate("auth.changed", lang)
    return render(request, "password.html", {"error": "", "notice": notice})
