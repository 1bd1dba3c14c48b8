"""The agent console ``/agent`` (a page and a small script over /v1/agent) and the list of
messages end users left when nobody was there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from admin.deps import ContextDep, require
from admin.i18n.agent import SCRIPT
from admin.render import render
from core import audit
from core.accounts import Principal, Role
from core.chat import left_messages
from core.db.tables import Licensee
from core.licensing.service_period import zone
from core.types import utcnow

router = APIRouter()
AgentDep = Annotated[Principal, Depends(require(Role.AGENT))]


def licensee_of(principal: Principal) -> str:
    assert principal.licensee_id is not None  # an agent always belongs to a licensee
    return principal.licensee_id


@router.get("/agent")
def console(request: Request, principal: AgentDep) -> Response:
    texts = SCRIPT["zh" if getattr(request.state, "lang", "zh") == "zh" else "en"]
    return render(request, "agent.html", {"texts": texts})


@router.get("/agent/left")
def left(request: Request, ctx: ContextDep, principal: AgentDep, done: int = 0) -> Response:
    lic = licensee_of(principal)

    def load(s: Session) -> tuple[str, list[left_messages.Left]]:
        licensee = s.get(Licensee, lic)
        tz = licensee.timezone if licensee else "Asia/Shanghai"
        return tz, left_messages.listed(s, lic, done=bool(done))

    tz, rows = ctx.db.read(load)
    items = [
        {
            "id": r.id,
            "when": r.created_at.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M"),
            "contact": r.contact,
            "text": r.text,
            "page": r.page,
            "locale": r.locale,
        }
        for r in rows
    ]
    return render(request, "agent_left.html", {"items": items, "done": bool(done)})


@router.post("/agent/left/{left_id}/done")
def mark_done(left_id: str, ctx: ContextDep, principal: AgentDep) -> Response:
    lic = licensee_of(principal)
    now = utcnow()

    def mark(s: Session) -> bool:
        done = left_messages.mark_done(s, lic, left_id, principal.user_id, now)
        if done:
            audit.record(
                s,
                actor=principal,
                action="left_message.done",
                target=left_id,
                before=None,
                after={"done_at": now.isoformat()},
                now=now,
                licensee_id=lic,
            )
        return done

    if not ctx.db.run(mark):
        raise HTTPException(404, "no such open message")
    return RedirectResponse("/agent/left", 303)
