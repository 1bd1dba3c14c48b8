"""``kefu archive``: the export archives of lapsed licences, and running their closing now."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from core.db.tables import LicenceClosure
from core.licensing.closure import run_due, worker_name
from core.settings import archive_directory
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt
from kefu.cli.output import emit, table

app = Typer(help="Export archives of lapsed licences.")


@app.command("list", epilog=examples("kefu archive list", "kefu archive list --json"))
def archive_list(as_json: JsonOpt = False) -> None:
    """Every closed licence and its archive.

    When it was revoked, archived and purged; the archive's file and SHA-256. Archives are
    in the directory KEFU_ARCHIVE_DIR names."""
    with database() as (settings, db), db.read_session() as session:
        closures = session.exec(
            select(LicenceClosure).order_by(col(LicenceClosure.revoked_at))
        ).all()
        directory = archive_directory(settings)

    def when(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    data = {
        "directory": str(directory),
        "closures": [
            {
                "licensee": c.licensee_id,
                "service_end": c.service_end.isoformat(),
                "revoked_at": when(c.revoked_at),
                "archive": None if c.archive_name is None else str(directory / c.archive_name),
                "sha256": c.archive_sha256,
                "bytes": c.archive_bytes,
                "archived_at": when(c.archived_at),
                "purged_at": when(c.purged_at),
                "renewed_at": when(c.lifted_at),
            }
            for c in closures
        ],
    }

    rows = [
        [c.licensee_id, c.service_end, state(c), c.archive_name or "-", c.archive_sha256 or "-"]
        for c in closures
    ]
    emit(
        data,
        as_json,
        lambda: (
            table(("LICENSEE", "ENDED", "STATE", "ARCHIVE", "SHA-256"), rows)
            if rows
            else f"(no closed licences; archives go to {directory})"
        ),
    )


def state(closure: LicenceClosure) -> str:
    if closure.lifted_at is not None:
        return "renewed"
    if closure.purged_at is not None:
        return "purged"
    return "archived" if closure.archived_at is not None else "revoked"


@app.command("run", epilog=examples("kefu archive run"))
def archive_run(as_json: JsonOpt = False) -> None:
    """Revoke, archive and purge whatever is due now.

    kefu serve does this by itself every KEFU_CLOSURE_INTERVAL_SECONDS."""
    with database() as (settings, db):
        run = run_due(db, archive_directory(settings), worker_name(), utcnow())
    data = {"revoked": run.revoked, "archived": run.archived, "purged": run.purged}
    emit(
        data,
        as_json,
        lambda: "\n".join(f"{k}: {', '.join(v) or '-'}" for k, v in data.items()),
    )
