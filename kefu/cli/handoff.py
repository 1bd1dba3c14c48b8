"""``kefu licensee handoff``: a licensee's rules for hand-off to people."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from admin.services import handoff as handoff_rules
from core.bus import Topic
from core.chat.handoff_rules import Rules, parse_span
from core.chat.handoff_rules import described as shown
from core.types import utcnow
from kefu.cli.command import examples
from kefu.cli.database import database, tell_servers
from kefu.cli.licensee import app
from kefu.cli.options import JsonOpt, LicenseeArg
from kefu.cli.output import emit


def described(licensee_id: str, rules: Rules) -> dict[str, Any]:
    return {"id": licensee_id, **shown(rules)}


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
        now = described(licensee_id, handoff_rules.current(session, licensee_id))
        changes: dict[str, Any] = {}
        if hours:
            changes["hours"] = [parse_span(h) for h in hours]
        if any_time:
            changes["hours"] = None
        if greeting is not None:
            changes["greeting"] = greeting
        if phrase:
            changes["phrases"] = phrase
        if default_phrases:
            changes["phrases"] = None
        if offer is not None:
            changes["offer_on_dont_know"] = offer
        if grace is not None:
            changes["grace_seconds"] = grace
        changed = bool(changes)
        if changed:
            rules = handoff_rules.change(session, None, utcnow(), licensee_id, **changes)
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
