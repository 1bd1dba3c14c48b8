"""``kefu outage`` (record and list outages) and ``kefu availability`` (per licensee, a month)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.db.tables import OutageLicensee
from core.errors import InvalidInput
from core.licensing.outages import availability, list_outages, record_outage
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, parse_moment
from kefu.cli.output import emit, table

app = Typer(help="Record and list outages (they extend service ends).")
availability_app = Typer()


@app.command(
    "add",
    epilog=examples(
        "kefu outage add --from 2026-12-03T10:00+08:00 --to 2026-12-03T11:30+08:00 --all"
        " --reason '数据库故障 database failure'",
        "kefu outage add --from 2026-12-03T10:00+08:00 --to 2026-12-03T10:20+08:00"
        " --licensee lic_… --reason 'model provider down'",
    ),
)
def outage_add(
    start: Annotated[
        str, typer.Option("--from", metavar="TIME", help="Start, ISO 8601 with an offset.")
    ],
    end: Annotated[str, typer.Option("--to", metavar="TIME", help="End, ISO 8601 with an offset.")],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="What happened (1-500 characters).")],
    licensee: Annotated[
        list[str] | None,
        typer.Option("--licensee", metavar="ID", help="An affected licensee (lic_…)."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every licensee that is not revoked was affected.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record an outage that is over.

    Each affected licensee's service end moves by its total outage time, rounded up to days."""
    if every == bool(licensee):
        raise InvalidInput("give either --licensee ID (repeatable) or --all")
    with database() as (_s, db), db.session() as session:
        outage, affected = record_outage(
            session,
            starts_at=parse_moment(start, "--from"),
            ends_at=parse_moment(end, "--to"),
            reason=reason,
            licensee_ids=None if every else licensee,
            now=utcnow(),
        )
        session.commit()
    data = {
        "id": outage.id,
        "from": outage.starts_at.isoformat(),
        "to": outage.ends_at.isoformat(),
        "reason": outage.reason,
        "licensees": [
            {
                "id": a.licensee_id,
                "outage_seconds": int(a.outage_time.total_seconds()),
                "days_added": a.days_added,
                "service_end": a.service_end,
            }
            for a in affected
        ],
    }
    rows = [[a.licensee_id, a.days_added, a.service_end] for a in affected]
    emit(
        data,
        as_json,
        lambda: (
            f"recorded {outage.id}\n"
            + (table(("LICENSEE", "DAYS ADDED", "SERVICE END"), rows) if rows else "(no licensee)")
        ),
    )


@app.command("list", epilog=examples("kefu outage list", "kefu outage list --json"))
def outage_list(as_json: JsonOpt = False) -> None:
    """Every recorded outage, oldest first, with the licensees it affected."""
    with database() as (_s, db), db.read_session() as session:
        outages = list_outages(session)
    data = {
        "outages": [
            {
                "id": o.id,
                "from": o.starts_at.isoformat(),
                "to": o.ends_at.isoformat(),
                "reason": o.reason,
                "all": o.all_licensees,
                "licensees": [{"id": x.licensee_id, "days_added": x.days_added} for x in links],
            }
            for o, links in outages
        ]
    }
    rows = [
        [
            o.id,
            o.starts_at.isoformat(),
            o.ends_at.isoformat(),
            _who(o.all_licensees, links),
            o.reason,
        ]
        for o, links in outages
    ]
    emit(
        data,
        as_json,
        lambda: (
            table(("ID", "FROM", "TO", "LICENSEES", "REASON"), rows)
            if rows
            else "(no outages recorded)"
        ),
    )


def _who(every: bool, links: list[OutageLicensee]) -> str:
    return "all" if every else ", ".join(x.licensee_id for x in links)


@availability_app.command(
    "availability",
    epilog=examples(
        "kefu availability --month 2026-12",
        "kefu availability --month 2026-12 --licensee lic_… --json",
    ),
)
def availability_report(
    month: Annotated[
        str, typer.Option(metavar="YYYY-MM", help="The month, in each licensee's time zone.")
    ],
    licensee: Annotated[
        list[str] | None,
        typer.Option("--licensee", metavar="ID", help="Only this licensee (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Each licensee's availability in a month.

    The time in service not covered by an outage, as a percentage to 0.001, rounded down;
    up to now for the current month."""
    with database() as (_s, db), db.read_session() as session:
        report = availability(session, month, utcnow(), licensee or None)
    data = {
        "month": month,
        "licensees": [
            {
                "id": r.licensee_id,
                "name": r.name,
                "served_seconds": int(r.served.total_seconds()),
                "down_seconds": int(r.down.total_seconds()),
                "availability_percent": None if r.percent is None else str(r.percent),
            }
            for r in report
        ],
    }
    rows = [
        [r.licensee_id, "-" if r.percent is None else f"{r.percent}%", r.down, r.name]
        for r in report
    ]
    emit(
        data,
        as_json,
        lambda: table(("LICENSEE", "AVAILABILITY", "DOWN", "NAME"), rows) if rows else "(none)",
    )
