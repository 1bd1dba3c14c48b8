"""``kefu licensee handoff``: a licensee's rules for hand-off to people."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from core.bus import Topic
from core.chat.handoff_rules import Rules, rules_for, save_rules
from core.errors import InvalidInput
from core.licensing.licensees import get_licensee
from core.types import utcnow
from kefu.cli.command import examples
from kefu.cli.database import database, tell_servers
from kefu.cli.licensee import app
from kefu.cli.options import JsonOpt, LicenseeArg
from kefu.cli.output import emit

_SPAN = re.compile(r"^\s*([1-7])(?:-([1-7]))?\s+(\d\d:\d\d)-(\d\d:\d\d)\s*$")


def parse_span(text: str) -> dict[str, Any]:
    """``"1-5 09:00-18:00"`` (ISO weekdays, 1 = Monday) as a stored span."""
    match = _SPAN.match(text)
    if match is None:
        raise InvalidInput(f"hours {text!r}: write DAYS HH:MM-HH:MM, e.g. '1-5 09:00-18:00'")
    first, last, start, end = match.groups()
    days = list(range(int(first), int(last or first) + 1))
    if not days:
        raise InvalidInput(f"hours {text!r}: the first day comes before the last")
    return {"days": days, "start": start, "end": end}


def described(licensee_id: str, rules: Rules) -> dict[str, Any]:
    return {
        "id": licensee_id,
        "hours": [{"days": list(s.days), "start": s.start, "end": s.end} for s in rules.hours or ()]
        or None,
        "greeting": rules.greeting,
        "phrases": list(rules.phrases),
        "offer_on_dont_know": rules.offer_on_dont_know,
        "grace_seconds": rules.grace_seconds,
    }


@app.command(
    "handoff",
    epilog=examples(
        "kefu licensee handoff lic_… --hours '1-5 09:00-18:00' --hours '6 10:00-16:00'",
        "kefu licensee handoff lic_… --greeting '您好，我是人工客服' --grace 120 --json",
    ),
)
def licensee_handoff(
    licensee_id: LicenseeArg,
    hours: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DAYS HH:MM-HH:MM",
            help="Working hours in the licensee's time zone (repeat for more spans).",
        ),
    ] = None,
    any_time: Annotated[
        bool, typer.Option("--any-time", help="No working hours: whenever an agent is signed in.")
    ] = False,
    greeting: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Said for the agent when one accepts.")
    ] = None,
    phrase: Annotated[
        list[str] | None,
        typer.Option(metavar="TEXT", help="A hand-off phrase (repeat; replaces the defaults)."),
    ] = None,
    default_phrases: Annotated[
        bool, typer.Option("--default-phrases", help="Back to the protocol's default phrases.")
    ] = False,
    offer: Annotated[
        bool | None,
        typer.Option("--offer/--no-offer", help="Whether the robot's don't-know offers a person."),
    ] = None,
    grace: Annotated[
        int | None,
        typer.Option(metavar="SECONDS", help="How long a lost agent keeps its conversations."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set the hand-off rules.

    Only the options given change."""
    with database() as (settings, db), db.session() as session:
        get_licensee(session, licensee_id)
        now = described(licensee_id, rules_for(session, licensee_id))
        changed = any(
            v is not None and v is not False
            for v in (hours, any_time, greeting, phrase, default_phrases, offer, grace)
        )
        if changed:
            span_list = [parse_span(h) for h in hours] if hours else now["hours"]
            phrases = None if default_phrases else (phrase or now["phrases"])
            rules = save_rules(
                session,
                licensee_id,
                hours=None if any_time else span_list,
                greeting=now["greeting"] if greeting is None else greeting,
                phrases=phrases,
                offer_on_dont_know=now["offer_on_dont_know"] if offer is None else offer,
                grace_seconds=now["grace_seconds"] if grace is None else grace,
                now=utcnow(),
            )
            session.commit()
            now = described(licensee_id, rules)
    if changed:
        tell_servers(settings, Topic.LICENCE, {"licensee_id": licensee_id})

    def human() -> str:
        hours_text = "; ".join(
            f"{s['days'][0]}-{s['days'][-1]} {s['start']}-{s['end']}" for s in now["hours"] or ()
        )
        return "\n".join(
            [
                f"hours: {hours_text or 'any time an agent is signed in'}",
                f"greeting: {now['greeting']}",
                f"phrases: {', '.join(now['phrases'])}",
                f"offer on don't know: {'yes' if now['offer_on_dont_know'] else 'no'}",
                f"grace: {now['grace_seconds']} s",
            ]
        )

    emit(now, as_json, human)
