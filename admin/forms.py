"""Form values as the core takes them: dates, money, minutes and local times, or a clear
``InvalidInput`` naming the field."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from core.billing.money import parse_money
from core.errors import InvalidInput
from core.licensing.licensees import parse_price
from core.licensing.service_period import zone

# The zones a form offers (a licensee's, a staff member's own); any IANA name is accepted.
TIME_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)


def text_or_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def day(value: str | None, name: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name}: a date is YYYY-MM-DD, got {value!r}",
            code="form.date",
            field=name,
            value=value,
        ) from None


def required_day(value: str | None, name: str) -> date:
    parsed = day(value, name)
    if parsed is None:
        raise InvalidInput(f"{name} is required", code="form.required", field=name)
    return parsed


def price(value: str | None, name: str = "unit price") -> Decimal:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{name} is required", code="form.required", field=name)
    return parse_price(value)


def money(value: str | None, name: str) -> Decimal | None:
    value = (value or "").strip()
    return None if not value else parse_money(value, name)


def minutes(value: str | None, name: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(
            f"{name}: a whole number of minutes, got {value!r}",
            code="form.minutes",
            field=name,
            value=value,
        ) from None


def local_moment(value: str | None, tz: str, name: str) -> datetime:
    """A ``datetime-local`` field (no offset) read in the time zone ``tz``."""
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{name} is required", code="form.required", field=name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name}: a time is YYYY-MM-DDTHH:MM, got {value!r}",
            code="form.time",
            field=name,
            value=value,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return moment


def origins(value: str | None) -> list[str]:
    """One origin a line (or separated by spaces or commas)."""
    return [part for part in (value or "").replace(",", " ").split() if part]
