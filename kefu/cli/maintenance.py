"""``kefu maintenance``: announce and list planned maintenance windows."""

from __future__ import annotations

from typing import Annotated

import typer

from core.bus import Topic
from core.licensing.licensees import get_licensee
from core.licensing.maintenance import announce, current_and_upcoming
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database, tell_servers
from kefu.cli.options import JsonOpt, parse_moment
from kefu.cli.output import emit

app = Typer(help="Announce and list planned maintenance windows.")


@app.command(
    "announce",
    epilog=examples(
        "kefu maintenance announce --start 2026-12-01T02:00+08:00 --end 2026-12-01T04:00+08:00"
        " --text '12月1日 2:00-4:00 系统维护'"
    ),
)
def maintenance_announce(
    start: Annotated[
        str, typer.Option(metavar="TIME", help="Start, ISO 8601 with offset, >= 1 day ahead.")
    ],
    end: Annotated[str, typer.Option(metavar="TIME", help="End, ISO 8601 with offset.")],
    text: Annotated[str, typer.Option(metavar="TEXT", help="What widgets show.")] = "",
    licensee: Annotated[
        str | None, typer.Option(metavar="ID", help="Only this licensee (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Announce planned maintenance.

    Widgets show it from now on and pause the chat during it."""
    with database() as (settings, db), db.session() as session:
        if licensee:
            get_licensee(session, licensee)
        window = announce(
            session,
            starts_at=parse_moment(start, "--start"),
            ends_at=parse_moment(end, "--end"),
            now=utcnow(),
            text=text,
            licensee_id=licensee,
        )
        session.commit()
    tell_servers(settings, Topic.MAINTENANCE, {})
    data = {
        "id": window.id,
        "licensee": window.licensee_id,
        "starts_at": window.starts_at.isoformat(),
        "ends_at": window.ends_at.isoformat(),
        "text": window.text,
    }
    emit(data, as_json, lambda: f"announced {data['id']}: {data['starts_at']} to {data['ends_at']}")


@app.command("list")
def maintenance_list(as_json: JsonOpt = False) -> None:
    """Windows that have not ended yet."""
    with database() as (_s, db), db.read_session() as session:
        windows = current_and_upcoming(session, utcnow())
    data = {
        "windows": [
            {
                "id": w.id,
                "licensee": w.licensee_id,
                "starts_at": w.starts_at.isoformat(),
                "ends_at": w.ends_at.isoformat(),
                "text": w.text,
            }
            for w in windows
        ]
    }
    emit(
        data,
        as_json,
        lambda: (
            "\n".join(
                f"{w['id']}  {w['starts_at']} to {w['ends_at']}  {w['licensee'] or 'all licensees'}"
                for w in data["windows"]
            )
            or "(no maintenance planned)"
        ),
    )
