"""``/admin/api/agent/answers``: canned answers from the agent's knowledge base, as they type."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from admin.deps import ContextDep, require
from core.accounts import Principal, Role
from core.knowledge.canned import MAX_QUERY_CHARS, search

router = APIRouter()


class Answer(BaseModel):
    id: str
    question: str
    answer: str


class Answers(BaseModel):
    items: list[Answer]


@router.get("/admin/api/agent/answers", response_model=Answers)
def answers(
    ctx: ContextDep,
    principal: Annotated[Principal, Depends(require(Role.AGENT))],
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
) -> Answers:
    lic = principal.licensee_id
    assert lic is not None
    found = ctx.db.read(lambda s: search(s, lic, q))
    return Answers(items=[Answer(id=c.id, question=c.question, answer=c.answer) for c in found])
