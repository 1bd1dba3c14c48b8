"""``kefu usage``: a licensee's conversations (usage units) of a month, as CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.licensing.licensees import get_licensee
from core.reporting.usage import USAGE_COLUMNS, month_usage
from core.spreadsheet import csv_bytes
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import LicenseeOpt

app = Typer()


@app.command(
    epilog=examples(
        "kefu usage --licensee lic_… --month 2026-11 > usage.csv",
        "kefu usage --licensee lic_… --month 2026-11 -o usage.csv",
    )
)
def usage(
    licensee: LicenseeOpt,
    month: Annotated[
        str, typer.Option(metavar="YYYY-MM", help="The month, in the licensee's time zone.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to a file, not stdout."),
    ] = None,
) -> None:
    """A licensee's conversations of a month, as CSV.

    One line per conversation (usage unit), in the licensee's time zone."""
    with database() as (_s, db), db.read_session() as session:
        lic = get_licensee(session, licensee)
        report = db.read(lambda conn: month_usage(conn, lic, month))
    body = csv_bytes(USAGE_COLUMNS, (line.as_row() for line in report.lines))
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        output.write_bytes(body)
        typer.echo(f"{report.units} billable units, {len(report.lines)} conversations", err=True)
