"""A licensee's hand-off rules: working hours, greeting, hand-off phrases, the robot's offer and
the grace period; validated here, stored one row per licensee (none: the defaults)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from core.db.tables import HandoffSettings, table_of
from core.errors import InvalidInput
from core.licensing.service_period import zone

_s = table_of(HandoffSettings)

# PROTOCOL.md: a message whose whole text is one of these asks for a person.
DEFAULT_PHRASES = ("转人工", "人工", "人工客服", "human", "agent", "talk to a person")
DEFAULT_GRACE_SECONDS = 60
MAX_PHRASES = 50
MAX_PHRASE_CHARS = 50
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


@dataclass(frozen=True, slots=True)
class Span:
    """Open on these ISO weekdays (1 = Monday) from ``start`` to ``end``, local time."""

    days: tuple[int, ...]
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class Rules:
    hours: tuple[Span, ...] | None = None  # None: no hours, agents take requests any time
    greeting: str = ""
    phrases: tuple[str, ...] = DEFAULT_PHRASES
    offer_on_dont_know: bool = True
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    _normal: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def asks_for_person(self, text: str) -> bool:
        """Whether the whole message is one of the hand-off phrases (case, width, spaces and
        trailing punctuation aside)."""
        normal = self._normal or frozenset(normalise(p) for p in self.phrases)
        return normalise(text) in normal


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    folded = folded.strip("!！?？.。~～ ")
    return " ".join(folded.split())


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def parse_hours(raw: Any) -> tuple[Span, ...] | None:
    """Working hours from their stored or submitted form; InvalidInput names what is wrong."""
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list) or len(raw) > 21:
        raise InvalidInput("hours must be a list of at most 21 spans")
    spans = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("each span of hours is an object with days, start and end")
        days, start, end = item.get("days"), item.get("start"), item.get("end")
        if (
            not isinstance(days, list)
            or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
        ):
            raise InvalidInput("days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
        if not isinstance(start, str) or not isinstance(end, str):
            raise InvalidInput("start and end are HH:MM")
        if not _HHMM.match(start) or not _HHMM.match(end) or _minutes(start) >= _minutes(end):
            raise InvalidInput(f"hours {start!r}-{end!r}: HH:MM, start before end")
        spans.append(Span(tuple(sorted(set(days))), start, end))
    return tuple(spans)


def within_hours(hours: tuple[Span, ...] | None, tz: str, now: datetime) -> bool:
    """Whether ``now`` falls in the working hours, read in the licensee's time zone."""
    if hours is None:
        return True
    local = now.astimezone(zone(tz))
    minute = local.hour * 60 + local.minute
    day = local.isoweekday()
    return any(
        day in span.days and _minutes(span.start) <= minute < _minutes(span.end) for span in hours
    )


def check_phrases(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_PHRASES
    if not isinstance(raw, list) or len(raw) > MAX_PHRASES:
        raise InvalidInput(f"phrases must be a list of at most {MAX_PHRASES}")
    out = []
    for phrase in raw:
        if not isinstance(phrase, str) or not normalise(phrase):
            raise InvalidInput("a hand-off phrase must be non-empty text")
        if len(phrase) > MAX_PHRASE_CHARS:
            raise InvalidInput(f"a hand-off phrase is at most {MAX_PHRASE_CHARS} characters")
        out.append(phrase.strip())
    return tuple(out)


def _build(hours: Any, greeting: str, phrases: Any, offer: bool, grace: int) -> Rules:
    checked = check_phrases(phrases)
    return Rules(
        hours=parse_hours(hours),
        greeting=greeting,
        phrases=checked,
        offer_on_dont_know=offer,
        grace_seconds=grace,
        _normal=frozenset(normalise(p) for p in checked),
    )


def rules_for(session: Session, licensee_id: str) -> Rules:
    row = session.execute(select(_s).where(_s.c.licensee_id == licensee_id)).first()
    if row is None:
        return _build(None, "", None, True, DEFAULT_GRACE_SECONDS)
    return _build(row.hours, row.greeting, row.phrases, row.offer_on_dont_know, row.grace_seconds)


def save_rules(
    session: Session,
    licensee_id: str,
    *,
    hours: Any = None,
    greeting: str = "",
    phrases: Any = None,
    offer_on_dont_know: bool = True,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    now: datetime,
) -> Rules:
    """Replace the licensee's rules (validated first: nothing is stored on bad input)."""
    if not isinstance(greeting, str) or len(greeting) > 500:
        raise InvalidInput("the greeting is text of at most 500 characters")
    if not isinstance(grace_seconds, int) or not 10 <= grace_seconds <= 3600:
        raise InvalidInput("the grace period is 10 to 3600 seconds")
    rules = _build(hours, greeting, phrases, bool(offer_on_dont_know), grace_seconds)
    session.execute(delete(_s).where(_s.c.licensee_id == licensee_id))
    session.execute(
        insert(_s).values(
            licensee_id=licensee_id,
            hours=[{"days": list(s.days), "start": s.start, "end": s.end} for s in rules.hours]
            if rules.hours
            else None,
            greeting=greeting,
            phrases=None if phrases is None else list(rules.phrases),
            offer_on_dont_know=rules.offer_on_dont_know,
            grace_seconds=grace_seconds,
            updated_at=now,
        )
    )
    return rules


def opening_time(spans: tuple[Span, ...]) -> time:
    """The earliest opening time (for "we are back at ..." texts)."""
    return min(time.fromisoformat(s.start) for s in spans)
