"""The questions the robot did not answer well, grouped, for a person to teach it.

A question counts when the robot's reply to it did not know (the one rule of
``core.chat.dont_know``, which the reports count too) or when its conversation was rated 2 or
less. Questions with the same
normalised text form one group, and near-duplicates (character bigrams mostly shared) join the
group they resemble. A group whose text is already a phrasing of an entry is left out: it has
been taught.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from core.chat.dont_know import dont_know
from core.chat.frames import Role
from core.db.tables import Message, Rating, table_of
from core.knowledge.files import match_key
from core.knowledge.store import load_entries

_messages = table_of(Message)
_ratings = table_of(Rating)
M, R = _messages.c, _ratings.c

DAYS = 30  # how far back the list looks
MAX_QUESTIONS = 2000  # questions read per list (the newest), so the page stays fast
LOW_RATING = 2  # a rating of this or less is a thumbs-down
NEAR = 0.5  # bigram Jaccard similarity from which two questions are one group


class Reason:
    DONT_KNOW = "dont_know"
    LOW_RATING = "low_rating"


@dataclass(frozen=True, slots=True)
class Asked:
    text: str
    at: datetime
    conversation_id: str
    reason: str


@dataclass(slots=True)
class Group:
    key: str
    text: str  # the most frequent spelling
    count: int = 0
    last_at: datetime | None = None
    reasons: set[str] = field(default_factory=set)
    conversations: list[str] = field(default_factory=list)  # newest first, a few
    spellings: Counter[str] = field(default_factory=Counter)
    _grams: frozenset[str] = frozenset()

    @property
    def variants(self) -> list[str]:
        return [t for t, _ in self.spellings.most_common(5)]


def _grams(key: str) -> frozenset[str]:
    squeezed = "".join(ch for ch in key if ch.isalnum())  # punctuation and blanks say nothing
    if len(squeezed) < 2:
        return frozenset({squeezed})
    return frozenset(squeezed[i : i + 2] for i in range(len(squeezed) - 1))


def _similar(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _dont_know(session: Session, licensee_id: str, since: datetime) -> list[Asked]:
    replies = (
        select(M.conversation_id, M.seq, M.created_at)
        .where(
            M.licensee_id == licensee_id,
            dont_know(M),
            M.created_at >= since,
        )
        .order_by(M.created_at.desc())
        .limit(MAX_QUESTIONS)
        .subquery()
    )
    # The question is the visitor's last message before the reply.
    question = (
        select(M.text)
        .where(
            M.conversation_id == replies.c.conversation_id,
            M.seq < replies.c.seq,
            M.role == Role.VISITOR.value,
        )
        .order_by(M.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(replies.c.conversation_id, replies.c.created_at, question.label("text"))
    )
    return [
        Asked(r.text, r.created_at, r.conversation_id, Reason.DONT_KNOW) for r in rows if r.text
    ]


def _low_rated(session: Session, licensee_id: str, since: datetime) -> list[Asked]:
    rated = (
        select(R.conversation_id)
        .where(R.licensee_id == licensee_id, R.score <= LOW_RATING, R.created_at >= since)
        .order_by(R.created_at.desc())
        .limit(MAX_QUESTIONS)
        .subquery()
    )
    rows = session.execute(
        select(M.text, M.created_at, M.conversation_id)
        .where(
            M.conversation_id.in_(select(rated.c.conversation_id)),
            M.role == Role.VISITOR.value,
        )
        .order_by(M.created_at.desc())
        .limit(MAX_QUESTIONS)
    )
    return [Asked(r.text, r.created_at, r.conversation_id, Reason.LOW_RATING) for r in rows]


def group_questions(asked: Iterable[Asked], taught: set[str]) -> list[Group]:
    """Group ``asked`` by normalised text and near-duplicates, leaving out ``taught`` keys;
    the largest groups first, then the most recent."""
    exact: dict[str, Group] = {}
    for a in sorted(asked, key=lambda a: a.at, reverse=True):
        key = match_key(a.text)
        if not key or key in taught:
            continue
        group = exact.get(key)
        if group is None:
            group = exact[key] = Group(key=key, text=a.text, _grams=_grams(key))
        group.count += 1
        group.spellings[a.text.strip()] += 1
        group.reasons.add(a.reason)
        if group.last_at is None or a.at > group.last_at:
            group.last_at = a.at
        if a.conversation_id not in group.conversations and len(group.conversations) < 5:
            group.conversations.append(a.conversation_id)
    merged: list[Group] = []
    for group in sorted(exact.values(), key=lambda g: g.count, reverse=True):
        home = next((m for m in merged if _similar(m._grams, group._grams) >= NEAR), None)
        if home is None:
            merged.append(group)
            continue
        home.count += group.count
        home.spellings.update(group.spellings)
        home.reasons |= group.reasons
        if group.last_at and (home.last_at is None or group.last_at > home.last_at):
            home.last_at = group.last_at
        for cid in group.conversations:
            if cid not in home.conversations and len(home.conversations) < 5:
                home.conversations.append(cid)
    for group in merged:
        group.text = group.spellings.most_common(1)[0][0]
    merged.sort(key=lambda g: (g.count, g.last_at.timestamp() if g.last_at else 0.0), reverse=True)
    return merged


def unanswered_questions(
    session: Session, licensee_id: str, now: datetime, days: int = DAYS
) -> list[Group]:
    """The licensee's unanswered questions of the last ``days`` days, grouped."""
    since = now - timedelta(days=days)
    asked = _dont_know(session, licensee_id, since) + _low_rated(session, licensee_id, since)
    taught = {match_key(p) for e in load_entries(session, licensee_id) for p in e.phrasings}
    return group_questions(asked, taught)
