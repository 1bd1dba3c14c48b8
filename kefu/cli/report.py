"""``kefu report rebuild``: the reports' daily figures recomputed from the rows."""

from __future__ import annotations

from typing import Annotated

import typer

from core.reporting.daily import rebuild
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, parse_date
from kefu.cli.output import emit

app = Typer(help="The reports' daily figures.")


@app.command(
    "rebuild",
    epilog=examples(
        "kefu report rebuild",
        "kefu report rebuild --licensee lic_… --from 2026-11-01 --to 2026-11-30",
    ),
)
def report_rebuild(
    licensee: Annotated[
        str | None,
        typer.Option("--licensee", metavar="ID", help="Only this licensee (lic_…); default all."),
    ] = None,
    first: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="YYYY-MM-DD", help="First day, licensee's zone; default its first."
        ),
    ] = None,
    last: Annotated[
        str | None,
        typer.Option(
            "--to", metavar="YYYY-MM-DD", help="Last day, licensee's zone; default today."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the reports' daily figures from the rows.

    The figures come from conversations, messages, ratings and model calls; the running servers
    keep them up to date, this repairs or backfills them."""
    lo, hi = parse_date(first, "--from"), parse_date(last, "--to")
    with database() as (_s, db), db.session() as session:
        done = rebuild(session, utcnow(), licensee_id=licensee, first=lo, last=hi)
        session.commit()
    emit(
        {"licensees": done.licensees, "days": done.days},
        as_json,
        lambda: f"rebuilt {done.days} licensee-days of {done.licensees} licensees",
    )
