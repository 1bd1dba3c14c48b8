"""``kefu statement``: list, show, issue, pay, note and download a licensee's statements."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from core.billing import issued as issuing
from core.billing.downloads import filename, parse_format, render
from core.billing.enforcement import enforce
from core.billing.issued import get_statement
from core.billing.money import parse_money, text
from core.billing.payments import add_note, prepay, record_payment
from core.billing.statements import statement_number
from core.billing.views import StatementView, list_views, month_view, view_of
from core.db.tables import Licensee
from core.errors import Conflict, InvalidInput
from core.licensing.licensees import get_licensee
from core.licensing.service_period import local_date
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, LicenseeArg, parse_date
from kefu.cli.output import emit, table

app = Typer(help="Statements: issue, pay, note, download.")

WhichArg = Annotated[
    str,
    typer.Argument(
        metavar="MONTH|NUMBER",
        help="The month (YYYY-MM, licensee's zone) or a number (2026-000012).",
    ),
]
_MONTH = re.compile(r"\d{4}-\d{2}")


def _view(session: Session, licensee_id: str, which: str) -> tuple[Licensee, StatementView]:
    lic = get_licensee(session, licensee_id)
    now = utcnow()
    if _MONTH.fullmatch(which):
        return lic, month_view(session, lic, which, now)
    stored = get_statement(session, licensee_id, which)
    return lic, view_of(session, lic, stored, local_date(now, lic.timezone))


@app.command("list", epilog=examples("kefu statement list lic_…"))
def statement_list(licensee_id: LicenseeArg, as_json: JsonOpt = False) -> None:
    """List a licensee's statements, newest first.

    Issued ones, and the drafts the billing job saved."""
    with database() as (_s, db), db.read_session() as session:
        views = list_views(session, get_licensee(session, licensee_id), utcnow())
    data = {"licensee": licensee_id, "statements": [v.summary() for v in views]}
    rows = [
        [v.number or "-", v.kind, v.period, v.status.value, text(v.total), str(v.due_date)]
        for v in views
    ]
    headers = ("NUMBER", "KIND", "PERIOD", "STATUS", "TOTAL", "DUE")
    emit(data, as_json, lambda: table(headers, rows) if rows else "(no statements)")


@app.command(
    "show",
    epilog=examples(
        "kefu statement show lic_… 2026-11", "kefu statement show lic_… 2026-000012 --json"
    ),
)
def statement_show(licensee_id: LicenseeArg, which: WhichArg, as_json: JsonOpt = False) -> None:
    """Show a statement with its lines.

    An issued one as frozen; otherwise the draft, computed now."""
    with database() as (_s, db), db.read_session() as session:
        _lic, view = _view(session, licensee_id, which)
    data = view.as_json()
    emit(data, as_json, lambda: json.dumps(data, ensure_ascii=False, indent=2))


@app.command("issue", epilog=examples("kefu statement issue lic_… 2026-11"))
def statement_issue(
    licensee_id: LicenseeArg,
    month: Annotated[str, typer.Argument(metavar="MONTH", help="YYYY-MM, licensee's zone.")],
    as_json: JsonOpt = False,
) -> None:
    """Issue a month's statement.

    It is numbered and frozen: never changed again.

    The month must be over. Issuing it again changes nothing and fails with exit code 4."""
    with database() as (_s, db), db.session() as session:
        result = issuing.issue_month(session, licensee_id, month, utcnow())
        session.commit()
        number = statement_number(result.statement)
    if not result.created:
        raise Conflict(f"{month} of {licensee_id} is issued already, as {number}")
    data = {
        "licensee": licensee_id,
        "month": month,
        "number": number,
        "total": text(result.statement.total),
        "due_date": str(result.statement.due_date),
    }
    emit(data, as_json, lambda: f"issued {number}: {data['total']} CNY due {data['due_date']}")


@app.command(
    "pay",
    epilog=examples(
        "kefu statement pay lic_… 2026-000012 --amount 120.50 --on 2026-12-04",
        "kefu statement pay lic_… --prepay 1000 --on 2026-12-04",
    ),
)
def statement_pay(
    licensee_id: LicenseeArg,
    which: Annotated[
        str | None,
        typer.Argument(metavar="[MONTH|NUMBER]", help="The statement paid (not with --prepay)."),
    ] = None,
    amount: Annotated[
        str | None, typer.Option(metavar="AMOUNT", help="CNY received, at most the unpaid part.")
    ] = None,
    prepay_amount: Annotated[
        str | None,
        typer.Option("--prepay", metavar="AMOUNT", help="CNY received ahead: the balance."),
    ] = None,
    on: Annotated[
        str | None, typer.Option(metavar="DATE", help="Day received, YYYY-MM-DD (default today).")
    ] = None,
    reference: Annotated[
        str, typer.Option(metavar="TEXT", help="The bank's reference, for the record.")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record a payment, or a prepayment.

    --prepay records money received ahead of statements.

    A payment lowers the late fee's principal from its day on, and lifts a suspension for
    arrears once nothing is more than 15 days overdue. A prepaid balance is applied to each
    statement as it is issued and refunded if the licence ends early."""
    if (amount is None) == (prepay_amount is None):
        raise InvalidInput("give either --amount (with the statement) or --prepay")
    now = utcnow()
    with database() as (_s, db), db.session() as session:
        lic = get_licensee(session, licensee_id)
        day = parse_date(on, "--on") or local_date(now, lic.timezone)
        if prepay_amount is not None:
            if which is not None:
                raise InvalidInput("--prepay is not for one statement: leave MONTH|NUMBER out")
            payment = prepay(session, licensee_id, parse_money(prepay_amount), day, now, reference)
            lifted = None
        else:
            if which is None:
                raise InvalidInput("which statement? give its month or number")
            assert amount is not None
            stored = get_statement(session, licensee_id, which)
            payment = record_payment(session, stored, parse_money(amount), day, now, reference)
            lifted = enforce(session, licensee_id, now)
        session.commit()
    data = {
        "id": payment.id,
        "licensee": licensee_id,
        "kind": payment.kind,
        "amount": text(payment.amount),
        "paid_on": str(payment.paid_on),
        "licence": lifted,
    }
    emit(
        data,
        as_json,
        lambda: (
            f"recorded {payment.kind} {data['amount']} CNY on {day}"
            + (f" (licence {lifted})" if lifted else "")
        ),
    )


@app.command(
    "note",
    epilog=examples(
        "kefu statement note lic_… --amount -12.00 --reason '重复计费 counted twice'"
        " --corrects 2026-000012"
    ),
)
def statement_note(
    licensee_id: LicenseeArg,
    amount: Annotated[
        str, typer.Option(metavar="AMOUNT", help="CNY: negative for a credit, positive a debit.")
    ],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why, printed on the statement.")],
    corrects: Annotated[
        str | None, typer.Option(metavar="NUMBER", help="The issued statement it corrects.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a credit or debit note.

    It lands on the next statement issued, never on one that is issued."""
    with database() as (_s, db), db.session() as session:
        note = add_note(
            session, licensee_id, parse_money(amount, positive=False), reason, utcnow(), corrects
        )
        session.commit()
    data = {
        "id": note.id,
        "licensee": licensee_id,
        "amount": text(note.amount),
        "reason": note.reason,
        "corrects": note.corrects,
    }
    emit(data, as_json, lambda: f"note {note.id}: {data['amount']} CNY, on the next statement")


@app.command(
    "download",
    epilog=examples(
        "kefu statement download lic_… 2026-11 --format pdf -o statement.pdf",
        "kefu statement download lic_… 2026-000012 --format detail.csv > detail.csv",
    ),
)
def statement_download(
    licensee_id: LicenseeArg,
    which: WhichArg,
    fmt: Annotated[
        str, typer.Option("--format", metavar="csv|detail.csv|xlsx|pdf", help="What to write.")
    ] = "pdf",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to a file, not stdout."),
    ] = None,
) -> None:
    """Download a statement.

    As CSV, its itemised detail as CSV, XLSX (both) or PDF."""
    kind = parse_format(fmt)
    with database() as (settings, db), db.read_session() as session:
        lic, view = _view(session, licensee_id, which)
        chunks = render(session, lic, view, kind, settings)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        else:
            with output.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            typer.echo(f"wrote {output} ({filename(view, kind)})", err=True)
