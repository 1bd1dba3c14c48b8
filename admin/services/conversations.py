"""Conversations as the pages and the JSON API read them: the search a principal may make
(a licensee's user only ever searches its own), a page of it and one transcript, an unknown
licensee or conversation a 404 (another licensee's too)."""

from __future__ import annotations

from datetime import date

from fastapi import HTTPException

from core.accounts import Principal
from core.chat import transcripts as tr
from core.chat.frames import EndReason
from core.db.engine import Database
from core.errors import InvalidInput, NotFound

RATINGS = {"low": (None, 2), "high": (4, None), **{str(n): (n, n) for n in range(1, 6)}}


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be YYYY-MM-DD", code="form.date", field=name, value=value
        ) from None


def build_search(
    principal: Principal,
    licensee: str = "",
    start: str = "",
    end: str = "",
    reason: str = "",
    rating: str = "",
    after: str = "",
    limit: int = tr.PAGE_SIZE,
) -> tr.Search:
    """The search a principal may make: a licensee's user only ever searches its own."""
    if principal.licensee_id is not None:
        if licensee and licensee != principal.licensee_id:
            raise HTTPException(404, f"no licensee {licensee}")
        licensee = principal.licensee_id
    try:
        end_reason = EndReason(reason) if reason else None
    except ValueError:
        raise InvalidInput(
            f"unknown end reason {reason!r}", code="conversations.end_reason", value=reason
        ) from None
    if rating and rating not in RATINGS:
        raise InvalidInput("rating is 1 to 5, low or high", code="conversations.rating_filter")
    low, high = RATINGS.get(rating, (None, None))
    return tr.Search(
        licensee_id=licensee or None,
        start=_day(start, "from"),
        end=_day(end, "to"),
        end_reason=end_reason,
        min_rating=low,
        max_rating=high,
        timezone=principal.timezone,
        after=after or None,
        limit=limit,
    )


def search(db: Database, query: tr.Search) -> tr.ConversationPage:
    try:
        return db.read(lambda s: tr.search_conversations(s, query))
    except NotFound:
        raise HTTPException(404, "no such licensee") from None


def transcript(db: Database, principal: Principal, conversation_id: str) -> tr.Transcript:
    try:
        return db.read(lambda s: tr.transcript(s, conversation_id, principal.licensee_id))
    except NotFound:
        raise HTTPException(404, "no such conversation") from None
