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
MAX_GREETING_CHARS = 500
MIN_GRACE_SECONDS, MAX_GRACE_SECONDS = 10, 3600
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_SPAN = re.compile(r"^\s*([1-7])(?:-([1-7]))?\s+(\d\d:\d\d)-(\d\d:\d\d)\s*$")


class BadRules(InvalidInput):
    """A rule that cannot be stored: ``code`` names which (each edge words it in zh and en,
    e.g. the console's ``handoff.error.<code>``), ``values`` fill its text."""

    def __init__(self, code: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


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
        raise BadRules("hours_list", "hours must be a list of at most 21 spans")
    spans = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadRules("span_shape", "each span of hours is an object with days, start and end")
        days, start, end = item.get("days"), item.get("start"), item.get("end")
        if (
            not isinstance(days, list)
            or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
        ):
            raise BadRules("days", "days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
        if not isinstance(start, str) or not isinstance(end, str):
            raise BadRules("times", "start and end are HH:MM", span=f"{start}-{end}")
        if not _HHMM.match(start) or not _HHMM.match(end) or _minutes(start) >= _minutes(end):
            raise BadRules(
                "times", f"hours {start!r}-{end!r}: HH:MM, start before end", span=f"{start}-{end}"
            )
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


def parse_span(text: str) -> dict[str, Any]:
    """``"1-5 09:00-18:00"`` (ISO weekdays, 1 = Monday) as a stored span."""
    match = _SPAN.match(text)
    if match is None:
        raise BadRules(
            "span_text",
            f"hours {text!r}: write DAYS HH:MM-HH:MM, e.g. '1-5 09:00-18:00'",
            text=text,
        )
    first, last, start, end = match.groups()
    days = list(range(int(first), int(last or first) + 1))
    if not days:
        raise BadRules(
            "day_order", f"hours {text!r}: the first day comes before the last", text=text
        )
    return {"days": days, "start": start, "end": end}


def span_text(span: Span) -> str:
    """A span as ``parse_span`` reads it (days listed one by one when they are not a run)."""
    days = list(span.days)
    if days == list(range(days[0], days[-1] + 1)):
        head = f"{days[0]}-{days[-1]}" if len(days) > 1 else str(days[0])
        return f"{head} {span.start}-{span.end}"
    return "\n".join(f"{d} {span.start}-{span.end}" for d in days)


def described(rules: Rules) -> dict[str, Any]:
    """The rules as stored and shown (the API's body, the audit log's before and after)."""
    return {
        "hours": [{"days": list(s.days), "start": s.start, "end": s.end} for s in rules.hours or ()]
        or None,
        "greeting": rules.greeting,
        "phrases": list(rules.phrases),
        "offer_on_dont_know": rules.offer_on_dont_know,
        "grace_seconds": rules.grace_seconds,
    }


def check_phrases(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_PHRASES
    if not isinstance(raw, list) or len(raw) > MAX_PHRASES:
        raise BadRules(
            "phrases_list", f"phrases must be a list of at most {MAX_PHRASES}", most=MAX_PHRASES
        )
    out = []
    for phrase in raw:
        if not isinstance(phrase, str) or not normalise(phrase):
            raise BadRules("phrase_empty", "a hand-off phrase must be non-empty text")
        if len(phrase) > MAX_PHRASE_CHARS:
            raise BadRules(
                "phrase_long",
                f"a hand-off phrase is at most {MAX_PHRASE_CHARS} characters",
                most=MAX_PHRASE_CHARS,
            )
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
    if not isinstance(greeting, str) or len(greeting) > MAX_GREETING_CHARS:
        raise BadRules(
            "greeting_long",
            f"the greeting is text of at most {MAX_GREETING_CHARS} characters",
            most=MAX_GREETING_CHARS,
        )
    if (
        not isinstance(grace_seconds, int)
        or isinstance(grace_seconds, bool)
        or not MIN_GRACE_SECONDS <= grace_seconds <= MAX_GRACE_SECONDS
    ):
        raise BadRules(
            "grace",
            f"the grace period is {MIN_GRACE_SECONDS} to {MAX_GRACE_SECONDS} seconds",
            least=MIN_GRACE_SECONDS,
            most=MAX_GRACE_SECONDS,
        )
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
