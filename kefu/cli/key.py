"""``kefu key``: create and revoke a licensee's keys."""

from __future__ import annotations

from typing import Annotated

import typer

from core.bus import Topic
from core.db.tables import KeyKind
from core.licensing.licensees import get_licensee, issue_key, revoke_key
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database, tell_servers
from kefu.cli.options import JsonOpt, LicenseeOpt
from kefu.cli.output import emit

app = Typer(help="Create and revoke keys.")


@app.command(
    "create",
    epilog=examples(
        "kefu key create --licensee lic_… --kind test",
        "kefu key create --licensee lic_… --kind secret --json",
    ),
)
def key_create(
    licensee: LicenseeOpt,
    kind: Annotated[
        KeyKind,
        typer.Option(metavar="live|test|secret", help="A site key (live or test) or a secret key."),
    ] = KeyKind.LIVE,
    as_json: JsonOpt = False,
) -> None:
    """Create a key; a secret key is shown only this once."""
    with database() as (_s, db), db.session() as session:
        get_licensee(session, licensee)
        token = issue_key(session, licensee, kind, utcnow())
        session.commit()
    data = {"licensee": licensee, "kind": kind.value, "key": token}
    emit(data, as_json, lambda: token)


@app.command("revoke", epilog=examples("kefu key revoke pk_live_…", "kefu key revoke key_…"))
def key_revoke(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The key, or its id (key_…).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key.

    New connections with it get 401; open ones are closed with a notice."""
    with database() as (settings, db), db.session() as session:
        row = revoke_key(session, key, utcnow())
        session.commit()
    tell_servers(settings, Topic.KEY, {"key_id": row.id})
    data = {"id": row.id, "licensee": row.licensee_id, "revoked": True}
    emit(data, as_json, lambda: f"revoked {data['id']}")
