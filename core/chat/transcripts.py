"""Finding conversations (by licensee, date, end reason, rating) and reading their transcripts.

The search pages newest first by keyset (``started_at``, ``id``): each page is one bounded range
of an index, however deep, so it stays fast with millions of conversations.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, select, true, tuple_
from sqlmodel import Session

from core.chat.frames import EndReason, Role
from core.db.tables import Conversation, Licensee, Message, Rating, table_of
from core.errors import InvalidInput, NotFound
from core.licensing.service_period import zone

_conversations = table_of(Conversation)
_messages = table_of(Message)
_ratings = table_of(Rating)
_licensees = table_of(Licensee)
C, M, R, L = _conversations.c, _messages.c, _ratings.c, _licensees.c

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Dates of a search across every licensee, unless the reader has a zone of their own.
PLATFORM_ZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Search:
    """What to look for; every field is optional (None: any)."""

    licensee_id: str | None = None
    start: date | None = None  # first day, inclusive, in the licensee's zone
    end: date | None = None  # last day, inclusive
    end_reason: EndReason | None = None
    min_rating: int | None = None  # 1..5; with either bound only rated conversations match
    max_rating: int | None = None
    after: str | None = None  # the cursor of the page before
    limit: int = PAGE_SIZE
    # The zone the days are read in: the reader's (the console); None: the licensee's, and
    # across every licensee the platform's.
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: str
    licensee_id: str
    licensee_name: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    test: bool
    messages: int
    rating: int | None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    rows: list[ConversationRow]
    next: str | None  # the cursor of the following page, None on the last
    timezone: str  # the zone the dates were read in


@dataclass(frozen=True, slots=True)
class TranscriptItem:
    """One history item (PROTOCOL.md): visitor items have ``client_id``, robot items ``ai``."""

    id: str
    role: str
    text: str
    at: datetime
    client_id: str | None = None
    ai: dict[str, Any] | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    resolved: bool | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    conversation: ConversationRow
    timezone: str
    items: list[TranscriptItem]


def encode_cursor(started_at: datetime, conversation_id: str) -> str:
    raw = f"{started_at.isoformat()}|{conversation_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, conversation_id = raw.split("|", 1)
        moment = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the page cursor is malformed", code="conversations.cursor") from None
    if moment.tzinfo is None or not conversation_id:
        raise InvalidInput("the page cursor is malformed", code="conversations.cursor")
    return moment, conversation_id


def _check(search: Search) -> None:
    for bound in (search.min_rating, search.max_rating):
        if bound is not None and not 1 <= bound <= 5:
            raise InvalidInput("a rating is between 1 and 5", code="conversations.rating")
    if search.start and search.end and search.start > search.end:
        raise InvalidInput("the first day is after the last day", code="range.reversed_days")
    if not 1 <= search.limit <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"a page holds 1 to {MAX_PAGE_SIZE} conversations",
            code="conversations.page",
            limit=MAX_PAGE_SIZE,
        )


def _zone_of(session: Session, licensee_id: str | None, chosen: str | None = None) -> str:
    if licensee_id is None:
        return chosen or PLATFORM_ZONE
    tz = session.execute(select(L.timezone).where(L.id == licensee_id)).scalar()
    if tz is None:
        raise NotFound(f"no licensee {licensee_id!r}", code="licensee.not_found", id=licensee_id)
    return chosen or str(tz)


def _latest_rating() -> Any:
    return (
        select(R.score)
        .where(R.conversation_id == C.id)
        .order_by(R.created_at.desc(), R.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _columns() -> list[Any]:
    return [
        C.id,
        C.licensee_id,
        L.name,
        C.started_at,
        C.ended_at,
        C.end_reason,
        C.test,
        C.last_seq,
        _latest_rating().label("rating"),
    ]


def _row(r: Any) -> ConversationRow:
    return ConversationRow(
        id=r.id,
        licensee_id=r.licensee_id,
        licensee_name=r.name,
        started_at=r.started_at,
        ended_at=r.ended_at,
        end_reason=r.end_reason,
        test=bool(r.test),
        messages=int(r.last_seq),
        rating=r.rating,
    )


def search_conversations(session: Session, search: Search) -> ConversationPage:
    """One page of the conversations matching ``search``, newest first."""
    _check(search)
    tz = _zone_of(session, search.licensee_id, search.timezone)
    where: list[Any] = []
    if search.licensee_id is not None:
        where.append(C.licensee_id == search.licensee_id)
    if search.start is not None:
        where.append(C.started_at >= datetime.combine(search.start, time(0), zone(tz)))
    if search.end is not None:
        last = datetime.combine(search.end + timedelta(days=1), time(0), zone(tz))
        where.append(C.started_at < last)
    if search.end_reason is not None:
        where.append(C.end_reason == search.end_reason.value)
    if search.min_rating is not None or search.max_rating is not None:
        rated: list[Any] = []
        if search.min_rating is not None:
            rated.append(R.score >= search.min_rating)
        if search.max_rating is not None:
            rated.append(R.score <= search.max_rating)
        if search.licensee_id is not None:
            # The licensee's few rated conversations, found on (licensee_id, score, created_at),
            # rather than an EXISTS probe for each of its conversations, newest first, until a
            # page is found: 6.6 ms against 72 ms at p50 for a licensee of 10,000 conversations
            # (bench/conversation_search.py, A/B in one run, load 12 on 2 CPUs).
            rated.append(R.licensee_id == search.licensee_id)
            where.append(C.id.in_(select(R.conversation_id).where(*rated)))
        else:
            # Every licensee: the score kept on the conversation, one range of
            # ix_conversations_rated_started (started_at, rating; rated ones only), newest
            # first, instead of probing each conversation's ratings: rating <= 2 at 10,000,000
            # conversations, p50 399 ms before, 1.7 ms after (docs/benchmarks.md).
            if search.min_rating is not None:
                where.append(C.rating >= search.min_rating)
            if search.max_rating is not None:
                where.append(C.rating <= search.max_rating)
    if search.after:
        moment, after_id = decode_cursor(search.after)
        where.append(tuple_(C.started_at, C.id) < tuple_(moment, after_id))
    query = (
        select(*_columns())
        .select_from(_conversations.join(_licensees, L.id == C.licensee_id))
        .where(and_(true(), *where))
        .order_by(C.started_at.desc(), C.id.desc())
        .limit(search.limit + 1)
    )
    rows = [_row(r) for r in session.execute(query)]
    more = len(rows) > search.limit
    rows = rows[: search.limit]
    cursor = encode_cursor(rows[-1].started_at, rows[-1].id) if more and rows else None
    return ConversationPage(rows, cursor, tz)


def get_conversation(
    session: Session, conversation_id: str, licensee_id: str | None = None
) -> ConversationRow:
    """The conversation; ``licensee_id`` given, only that licensee's (another's: NotFound)."""
    query = (
        select(*_columns())
        .select_from(_conversations.join(_licensees, L.id == C.licensee_id))
        .where(C.id == conversation_id)
    )
    row = session.execute(query).first()
    if row is None or (licensee_id is not None and row.licensee_id != licensee_id):
        raise NotFound(
            f"no conversation {conversation_id!r}",
            code="conversation.not_found",
            id=conversation_id,
        )
    return _row(row)


def transcript(
    session: Session, conversation_id: str, licensee_id: str | None = None
) -> Transcript:
    """The conversation and every message of it in order, as history items."""
    conversation = get_conversation(session, conversation_id, licensee_id)
    tz = _zone_of(session, conversation.licensee_id)
    rows = session.execute(
        select(M.id, M.role, M.text, M.created_at, M.client_id, M.ai, M.sources, M.resolved)
        .where(M.conversation_id == conversation_id)
        .order_by(M.seq)
    )
    items = [
        TranscriptItem(
            id=r.id,
            role=r.role,
            text=r.text,
            at=r.created_at,
            client_id=r.client_id if r.role == Role.VISITOR else None,
            ai=r.ai if r.role == Role.ROBOT else None,
            sources=list(r.sources or []),
            resolved=r.resolved,
        )
        for r in rows
    ]
    return Transcript(conversation, tz, items)


def transcripts(
    session: Session, conversation_ids: Sequence[str], licensee_id: str | None = None
) -> list[Transcript]:
    return [transcript(session, cid, licensee_id) for cid in conversation_ids]
