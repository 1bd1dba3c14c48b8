"""``kefu origin``: the sites a licensee's widget may run on."""

from __future__ import annotations

from typing import Annotated

import typer

from core.licensing.licensees import add_origin, remove_origin
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, LicenseeOpt
from kefu.cli.output import emit

app = Typer(help="Add and remove allowed origins.")

OriginArg = Annotated[
    str, typer.Argument(metavar="ORIGIN", help="scheme://host[:port], or https://*.example.com.")
]


@app.command(
    "add",
    epilog=examples(
        "kefu origin add --licensee lic_… https://m.example.com",
        "kefu origin add --licensee lic_… 'https://*.example.com'",
    ),
)
def origin_add(licensee: LicenseeOpt, origin: OriginArg, as_json: JsonOpt = False) -> None:
    """Allow an origin.

    A wildcard allows every sub-domain, on https and port 443 only."""
    with database() as (_s, db), db.session() as session:
        pattern = add_origin(session, licensee, origin)
        session.commit()
    emit({"licensee": licensee, "origin": pattern}, as_json, lambda: f"allowed {pattern}")


@app.command("remove", epilog=examples("kefu origin remove --licensee lic_… https://m.example.com"))
def origin_remove(licensee: LicenseeOpt, origin: OriginArg, as_json: JsonOpt = False) -> None:
    """Stop allowing an origin."""
    with database() as (_s, db), db.session() as session:
        pattern = remove_origin(session, licensee, origin)
        session.commit()
    emit(
        {"licensee": licensee, "origin": pattern, "removed": True},
        as_json,
        lambda: f"removed {pattern}",
    )
