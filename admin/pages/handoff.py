"""A licensee's hand-off rules in the console: working hours in its time zone, the greeting for
an agent's arrival, the hand-off phrases and whether the robot's "don't know" offers a person.
Licensor owners and the licensee's admin change them; the other licensor roles read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from admin.context import AdminContext
from admin.deps import ContextDep, PrincipalDep
from admin.i18n import translate
from admin.permissions import check, may
from admin.render import render
from admin.services import handoff as handoff_rules
from core.accounts import Principal
from core.bus import Topic
from core.chat.handoff_rules import (
    DEFAULT_PHRASES,
    MAX_GREETING_CHARS,
    BadRules,
    Rules,
    parse_span,
    span_text,
)
from core.db.tables import Licensee
from core.types import utcnow

router = APIRouter()
Text = Annotated[str, Form(max_length=5000)]


def error_text(exc: BadRules, lang: str) -> str:
    """What is wrong, in the reader's language."""
    return translate(f"handoff.error.{exc.code}", lang, **exc.values)


def _values(rules: Rules) -> dict[str, Any]:
    return {
        "hours": "\n".join(span_text(s) for s in rules.hours or ()),
        "greeting": rules.greeting,
        "phrases": "\n".join(rules.phrases),
        "offer": rules.offer_on_dont_know,
        "grace": str(rules.grace_seconds),
    }


def _page(
    request: Request,
    licensee: Licensee,
    values: dict[str, Any],
    principal: Principal,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    done = request.query_params.get("done", "")
    return render(
        request,
        "licensees/handoff.html",
        {
            "lic": licensee,
            "values": values,
            "can_edit": may(principal, "handoff.edit"),
            "defaults": ("、" if request.state.lang == "zh" else ", ").join(DEFAULT_PHRASES),
            "greeting_max": MAX_GREETING_CHARS,
            "error": error,
            "notice": translate("handoff.saved", request.state.lang) if done == "saved" else "",
        },
        status,
    )


def _licensee(ctx: AdminContext, licensee_id: str) -> Licensee:
    return ctx.db.read(lambda s: handoff_rules.licensee(s, licensee_id))


@router.get("/admin/licensees/{licensee_id}/handoff")
def handoff_page(
    request: Request, ctx: ContextDep, principal: PrincipalDep, licensee_id: str
) -> Response:
    check(principal, "handoff.read", licensee_id)
    licensee = _licensee(ctx, licensee_id)
    rules = ctx.db.read(lambda s: handoff_rules.current(s, licensee_id))
    return _page(request, licensee, _values(rules), principal)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.post("/admin/licensees/{licensee_id}/handoff")
async def handoff_save(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    hours: Text = "",
    greeting: Text = "",
    phrases: Text = "",
    offer: Text = "",
    grace: Text = "",
) -> Response:
    check(principal, "handoff.edit", licensee_id)
    licensee = await run_in_threadpool(_licensee, ctx, licensee_id)
    values = {
        "hours": hours,
        "greeting": greeting,
        "phrases": phrases,
        "offer": bool(offer),
        "grace": grace,
    }
    now = utcnow()
    try:
        spans = [parse_span(line) for line in lines(hours)]
        try:
            grace_seconds = int(grace.strip())
        except ValueError:
            raise handoff_rules.bad_grace() from None
        changes = {
            "hours": spans or None,  # no lines: any time an agent is signed in
            "greeting": greeting.strip(),
            "phrases": lines(phrases) or None,  # no lines: the protocol's defaults
            "offer_on_dont_know": bool(offer),
            "grace_seconds": grace_seconds,
        }
        await ctx.db.write(
            lambda s: handoff_rules.change(s, principal, now, licensee_id, **changes)
        )
    except BadRules as exc:
        error = error_text(exc, request.state.lang)
        return await run_in_threadpool(
            _page, request, licensee, values, principal, error=error, status=400
        )
    await ctx.tell(Topic.LICENCE, {"licensee_id": licensee_id})
    return RedirectResponse(f"/admin/licensees/{licensee_id}/handoff?done=saved", 303)
