"""Options many ``kefu`` commands share, and the parsing of the dates and times they take."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from core.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
LicenseeOpt = Annotated[
    str, typer.Option("--licensee", metavar="ID", help="The licensee's id (lic_…).")
]
LicenseeArg = Annotated[str, typer.Argument(metavar="ID", help="The licensee's id (lic_…).")]


def parse_date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be YYYY-MM-DD, got {value!r}") from None


def parse_moment(value: str, name: str) -> datetime:
    """An ISO 8601 time that names its offset: a bare local time would be a guess."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 time with an offset, e.g. 2026-12-01T02:00+08:00"
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone offset, e.g. +08:00")
    return moment
