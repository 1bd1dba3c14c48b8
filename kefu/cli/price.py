"""``kefu price``: a licensee's unit price schedule (the price in force from a date on)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from core.billing.prices import in_force, schedules, set_price
from core.licensing.licensees import get_licensee, parse_price
from core.licensing.service_period import local_date
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, LicenseeArg, LicenseeOpt, parse_date
from kefu.cli.output import emit, table

app = Typer(help="Unit prices per licensee, from a date on.")


@app.command(
    "set",
    epilog=examples("kefu price set --licensee lic_… --unit-price 0.45 --from 2026-12-01"),
)
def price_set(
    licensee: LicenseeOpt,
    unit_price: Annotated[
        str, typer.Option("--unit-price", metavar="PRICE", help="CNY per unit, <= 4 decimals.")
    ],
    effective_from: Annotated[
        str,
        typer.Option(
            "--from", metavar="DATE", help="First day (licensee's zone) it applies, YYYY-MM-DD."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Put a unit price in force from a date on.

    A unit is priced at the price in force when it started. A date inside a month whose
    statement is issued is refused: correct an issued statement with a note."""
    day = parse_date(effective_from, "--from")
    assert day is not None
    with database() as (_s, db), db.session() as session:
        row = set_price(session, licensee, parse_price(unit_price), day)
        session.commit()
    data = {
        "licensee": licensee,
        "unit_price": format(row.unit_price, "f"),
        "from": day.isoformat(),
        "currency": row.currency,
    }
    emit(data, as_json, lambda: f"{licensee}: {data['unit_price']} CNY per unit from {day}")


@app.command("list", epilog=examples("kefu price list lic_…"))
def price_list(licensee_id: LicenseeArg, as_json: JsonOpt = False) -> None:
    """List a licensee's unit prices.

    Oldest first, and the price in force today."""
    with database() as (_s, db), db.read_session() as session:
        lic = get_licensee(session, licensee_id)
        rows = schedules(session, licensee_id)
        current = in_force(rows, local_date(utcnow(), lic.timezone))
    items: list[dict[str, Any]] = [
        {
            "from": r.effective_from.isoformat(),
            "unit_price": format(r.unit_price, "f"),
            "currency": r.currency,
        }
        for r in rows
    ]
    data = {
        "licensee": licensee_id,
        "in_force": None if current is None else format(current.unit_price, "f"),
        "prices": items,
    }

    def human() -> str:
        body = table(("FROM", "UNIT PRICE", "CURRENCY"), [list(i.values()) for i in items])
        return f"{body}\nin force today: {data['in_force'] or '(none)'}"

    emit(data, as_json, human)
