"""Server-rendered pages: one Jinja environment (autoescape on), the words of the request's
language, and the headers every console page carries."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from admin import TEMPLATES_DIR
from admin.forms import TIME_ZONES
from admin.i18n import LANG_COOKIE, LANGUAGES, pick_language, translate
from admin.nav import nav_for
from admin.security import CSRF_FIELD
from core.accounts import Principal
from core.licensing.service_period import DEFAULT_TIMEZONE, zone

# No script, style or frame from anywhere else, and no page of ours inside another site's frame.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def pretty_json(value: object) -> str:
    """Readable JSON for a page (Chinese as itself, not ``\\u`` escapes); escaped as text by
    autoescape like any other value."""
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,  # every value is text unless a template says otherwise
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty_json"] = pretty_json
    return env


def page_context(request: Request) -> dict[str, Any]:
    lang: str = getattr(request.state, "lang", "zh")
    principal: Principal | None = getattr(request.state, "principal", None)
    csrf: str = getattr(request.state, "csrf", "")

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    def csrf_input() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(csrf))

    def lang_url(target: str) -> str:
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        query["lang"] = target
        return f"{request.url.path}?{urlencode(query)}"

    viewer_zone = principal.timezone if principal is not None else DEFAULT_TIMEZONE

    def when(moment: datetime | None, seconds: bool = False) -> str:
        """A stored instant as the reader's wall clock (the zone is named beside it)."""
        if moment is None:
            return "—"
        shown = moment.astimezone(zone(viewer_zone))
        return shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    other = next(code for code in LANGUAGES if code != lang)
    return {
        "request": request,
        "lang": lang,
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "t": t,
        "csrf_input": csrf_input,
        "csrf_token": csrf,
        "principal": principal,
        "nav": nav_for(principal),
        "path": request.url.path,
        "other_lang": other,
        "lang_url": lang_url,
        "viewer_zone": viewer_zone,
        "when": when,
        "time_zones": TIME_ZONES,
    }


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """The page ``template`` with the request's language, principal and CSRF token."""
    values = page_context(request)
    values.update(context or {})
    html = environment().get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    remember_language(request, response)
    return response


def remember_language(request: Request, response: Any) -> None:
    """A ``?lang=`` choice is kept in a cookie for the next pages."""
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", httponly=False, path="/"
        )


PAGE_ERRORS = {401: "error.403", 403: "error.403", 404: "error.404"}


def wants_page(path: str) -> bool:
    """Whether an error at ``path`` is for a person reading a console page (HTML), not for a
    program calling the API (JSON)."""
    return path.startswith("/admin") and not path.startswith(("/admin/api", "/admin/static"))


def request_language(request: Request) -> str:
    """The reader's language, also for a request the gate did not see (no route matched)."""
    if not hasattr(request.state, "lang"):
        request.state.lang = pick_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language", ""),
        )
    lang: str = request.state.lang
    return lang


def error_page(request: Request, status: int, detail: str = "") -> HTMLResponse:
    """A console error as a page, in the reader's language: the refusal its status means, then
    ``detail`` (already in that language), or ``detail`` alone for another status."""
    lang = request_language(request)
    key = PAGE_ERRORS.get(status)
    message = translate(key, lang) if key else detail
    return render(
        request, "error.html", {"status": status, "message": message, "detail": detail}, status
    )
