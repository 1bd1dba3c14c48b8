"""``/admin/api/licensees/{id}/handoff``: a licensee's hand-off rules as JSON, with the page's
roles (licensor owner and the licensee's admin change them, the other licensor roles read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from admin.deps import ContextDep, PrincipalDep
from admin.i18n import parse_accept_language
from admin.pages.handoff import error_text
from admin.permissions import check
from admin.services import handoff as handoff_rules
from core.bus import Topic
from core.chat.handoff_rules import (
    MAX_GRACE_SECONDS,
    MAX_GREETING_CHARS,
    MIN_GRACE_SECONDS,
    BadRules,
    described,
)
from core.types import utcnow

router = APIRouter(prefix="/admin/api/licensees")


class Span(BaseModel):
    days: list[int] = Field(description="ISO weekdays, 1 (Monday) to 7 (Sunday)")
    start: str = Field(description="HH:MM in the licensee's time zone")
    end: str = Field(description="HH:MM, after the start (24:00 for midnight)")


class HandoffRules(BaseModel):
    hours: list[Span] | None = Field(
        description="Working hours; null: whenever an agent is signed in"
    )
    greeting: str = Field(description="Said in the agent's name when one accepts; empty: none")
    phrases: list[str] = Field(
        description="A visitor message that is exactly one asks for a person"
    )
    offer_on_dont_know: bool = Field(description="Whether the robot's don't-know offers a person")
    grace_seconds: int = Field(description="How long a lost agent keeps its conversations")


class HandoffChange(BaseModel):
    """Only the fields sent change."""

    hours: list[Span] | None = Field(
        None, description="Working hours; null or []: whenever an agent is signed in"
    )
    greeting: str | None = Field(None, description=f"At most {MAX_GREETING_CHARS} characters")
    phrases: list[str] | None = Field(None, description="null: the protocol's default phrases")
    offer_on_dont_know: bool | None = None
    grace_seconds: int | None = Field(
        None, description=f"{MIN_GRACE_SECONDS} to {MAX_GRACE_SECONDS}"
    )


class RulesError(BaseModel):
    detail: str = Field(description="What is wrong, in the Accept-Language (zh or en; else en)")
    code: str = Field(
        description="Which rule: hours_list, span_shape, days, times, phrases_list, "
        "phrase_empty, phrase_long, greeting_long or grace"
    )


@router.get("/{licensee_id}/handoff", response_model=HandoffRules)
def get_handoff(ctx: ContextDep, principal: PrincipalDep, licensee_id: str) -> HandoffRules:
    check(principal, "handoff.read", licensee_id)
    rules = ctx.db.read(lambda s: handoff_rules.current(s, licensee_id))
    return HandoffRules.model_validate(described(rules))


@router.patch(
    "/{licensee_id}/handoff",
    response_model=HandoffRules,
    responses={400: {"model": RulesError, "description": "A rule that cannot be stored"}},
)
async def change_handoff(
    request: Request,
    ctx: ContextDep,
    principal: PrincipalDep,
    licensee_id: str,
    body: HandoffChange,
) -> HandoffRules | Response:
    check(principal, "handoff.edit", licensee_id)
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    if changes.get("hours") is not None:
        changes["hours"] = [span.model_dump() for span in changes["hours"]]
    if changes.get("greeting") is None:
        changes.pop("greeting", None)
    for name in ("offer_on_dont_know", "grace_seconds"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    now = utcnow()
    try:
        rules = await ctx.db.write(
            lambda s: handoff_rules.change(s, principal, now, licensee_id, **changes)
        )
    except BadRules as exc:
        lang = parse_accept_language(request.headers.get("accept-language", "")) or "en"
        return JSONResponse({"detail": error_text(exc, lang), "code": exc.code}, 400)
    await ctx.tell(Topic.LICENCE, {"licensee_id": licensee_id})
    return HandoffRules.model_validate(described(rules))
