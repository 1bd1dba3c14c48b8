"""``kefu licensee``: create, list, show, configure, suspend and resume licensees."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from sqlmodel import Session, col, select

from core.billing.accounts import bill_base_fee, set_invoice_details, set_terms, terminate
from core.billing.enforcement import enforce
from core.billing.money import parse_money, text
from core.billing.prices import in_force, schedules
from core.billing.statements import statement_number
from core.bus import Topic
from core.chat import branding
from core.db.tables import ApiKey, BillingAccount, Licensee
from core.errors import InvalidInput
from core.licensing import identity
from core.licensing.appearance import configure, widget_config
from core.licensing.licensees import create_licensee, get_licensee, list_origins, parse_price
from core.licensing.renewal import open_late, renew
from core.licensing.service_period import local_date
from core.licensing.suspension import resume, suspend
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database, tell_servers
from kefu.cli.options import JsonOpt, LicenseeArg, parse_date
from kefu.cli.output import emit, table

app = Typer(help="Create, list, configure, suspend, resume and renew licensees.")


def script_tag(base_url: str, key: str) -> str:
    """The one line a licensee pastes into its pages (docs/embedding.md)."""
    return f'<script src="{base_url}/widget.js?key={key}" async></script>'


@app.command(
    "create",
    epilog=examples(
        'kefu licensee create --name "Example Shop" --origin https://shop.example.com',
        "kefu licensee create --name Shop --origin https://shop.cn --origin 'https://*.shop.cn'"
        " --unit-price 0.45 --json",
    ),
)
def licensee_create(
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="The licensee's name.")],
    origin: Annotated[
        list[str],
        typer.Option(
            "--origin",
            metavar="ORIGIN",
            help="A site the widget may run on, scheme://host[:port] or https://*.example.com.",
        ),
    ],
    unit_price: Annotated[
        str, typer.Option(metavar="PRICE", help="CNY per usage unit (conversation).")
    ] = "0.50",
    start: Annotated[
        str | None, typer.Option(metavar="DATE", help="Service start, YYYY-MM-DD (default today).")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Service end, YYYY-MM-DD, inclusive (default 1 year)."),
    ] = None,
    timezone: Annotated[
        str, typer.Option(metavar="ZONE", help="The licensee's time zone (its months and bills).")
    ] = "Asia/Shanghai",
    idle_minutes: Annotated[
        int | None,
        typer.Option(
            metavar="MINUTES",
            help="Idle time that ends a conversation, 5 to 1440 (default: the setting).",
        ),
    ] = None,
    base_fee: Annotated[
        str | None,
        typer.Option(
            metavar="AMOUNT",
            help="The one-time base fee, CNY: billed at once, due 5 Chinese working days"
            " after signing.",
        ),
    ] = None,
    signed: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Signing date of the contract (default today)."),
    ] = None,
    base_fee_due: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="The base fee's due date, for a year the holiday calendar does not know yet.",
        ),
    ] = None,
    allow_duplicate_name: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate-name",
            help="Create it even though a licensee has this name already (ignoring case).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a licensee and print its keys and <script> lines.

    The secret key is shown only this once."""
    with database() as (settings, db), db.session() as session:
        licensee, keys = create_licensee(
            session,
            name=name,
            origins=origin,
            now=utcnow(),
            unit_price=parse_price(unit_price),
            start=parse_date(start, "--start"),
            end=parse_date(end, "--end"),
            timezone=timezone,
            idle_timeout_minutes=idle_minutes or settings.default_idle_timeout_minutes,
            allow_duplicate_name=allow_duplicate_name,
        )
        bill = None
        if base_fee is not None:
            now = utcnow()
            bill = bill_base_fee(
                session,
                licensee.id,
                parse_money(base_fee, "--base-fee"),
                parse_date(signed, "--signed") or local_date(now, licensee.timezone),
                now,
                parse_date(base_fee_due, "--base-fee-due"),
            ).statement
        session.commit()
    data: dict[str, Any] = {
        "id": licensee.id,
        "site_key": keys.site_key,
        "test_site_key": keys.test_site_key,
        "secret_key": keys.secret_key,
    }
    if bill is not None:
        data["base_fee_bill"] = {
            "number": statement_number(bill),
            "total": text(bill.total),
            "due_date": bill.due_date.isoformat(),
        }
    base = (settings.public_url or "https://HOST").rstrip("/")

    def human() -> str:
        lines = [f"{k}: {v}" for k, v in data.items()]
        lines.append("(the secret key is shown only now: keep it safe)")
        lines += ["", "The line for the licensee's pages:", f"  {script_tag(base, keys.site_key)}"]
        lines += ["To try it first (test conversations are never billed):"]
        lines.append(f"  {script_tag(base, keys.test_site_key)}")
        if not settings.public_url:
            lines.append("(HOST: where browsers reach this server; set KEFU_PUBLIC_URL to fill it)")
        return "\n".join(lines)

    emit(data, as_json, human)


def summary(session: Session, licensee: Licensee) -> dict[str, Any]:
    keys = session.exec(select(ApiKey).where(ApiKey.licensee_id == licensee.id)).all()
    price = in_force(schedules(session, licensee.id), local_date(utcnow(), licensee.timezone))
    account = session.get(BillingAccount, licensee.id)
    return {
        "id": licensee.id,
        "name": licensee.name,
        "status": licensee.status,
        "timezone": licensee.timezone,
        "service_start": licensee.service_start.isoformat(),
        "service_end": licensee.service_end.isoformat(),
        "idle_timeout_minutes": licensee.idle_timeout_minutes,
        "title": licensee.title,
        "greeting": licensee.greeting,
        "color": licensee.theme_color,
        "position": licensee.widget_position,
        "identity_epoch": licensee.identity_epoch,
        "unit_price": None if price is None else format(price.unit_price, "f"),
        "billing": None if account is None else billing_summary(account),
        "origins": list_origins(session, licensee.id),
        "keys": [
            {"id": k.id, "kind": k.kind, "key": k.display, "revoked": k.revoked_at is not None}
            for k in keys
        ],
    }


@app.command("list", epilog=examples("kefu licensee list", "kefu licensee list --json"))
def licensee_list(as_json: JsonOpt = False) -> None:
    """List every licensee, oldest first."""
    with database() as (_s, db), db.read_session() as session:
        rows = session.exec(select(Licensee).order_by(col(Licensee.created_at))).all()
    data = {
        "licensees": [
            {"id": r.id, "name": r.name, "status": r.status, "service_end": str(r.service_end)}
            for r in rows
        ]
    }
    headers = ("ID", "STATUS", "SERVICE END", "NAME")
    fields = ("id", "status", "service_end", "name")
    emit(
        data,
        as_json,
        lambda: (
            table(headers, [[r[f] for f in fields] for r in data["licensees"]])
            if rows
            else "(no licensees)"
        ),
    )


@app.command("show")
def licensee_show(licensee_id: LicenseeArg, as_json: JsonOpt = False) -> None:
    """Show a licensee with its origins and keys.

    Secret keys are shown only by their prefix."""
    with database() as (_s, db), db.read_session() as session:
        data = summary(session, get_licensee(session, licensee_id))
    emit(data, as_json, lambda: json.dumps(data, ensure_ascii=False, indent=2))


@app.command(
    "configure",
    epilog=examples(
        "kefu licensee configure lic_… --title 'Shop help' --color '#e4572e' --position left"
    ),
)
def licensee_configure(
    licensee_id: LicenseeArg,
    title: Annotated[
        str | None,
        typer.Option(
            metavar="TITLE", help="The widget's title, <= 100 characters ('' = the name)."
        ),
    ] = None,
    greeting: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="The widget's first line, <= 500 ('' = the default)."),
    ] = None,
    color: Annotated[
        str | None, typer.Option(metavar="#RRGGBB", help="Brand colour, #rgb or #rrggbb.")
    ] = None,
    position: Annotated[
        str | None, typer.Option(metavar="left|right", help="The corner the button sits in.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the widget's title, greeting, colour and corner.

    Only the options given change. Prints the widget config that new connections get."""
    with database() as (settings, db), db.session() as session:
        lic = configure(
            session,
            licensee_id,
            utcnow(),
            title=title,
            greeting=greeting,
            color=color,
            position=position,
        )
        session.commit()
        config = widget_config(lic, branding.language(lic.locale), settings.product_name)
    data = {
        "id": lic.id,
        "title": lic.title,
        "greeting": lic.greeting,
        "color": lic.theme_color,
        "position": lic.widget_position,
        "config": config.model_dump(mode="json"),
    }
    # What the widget shows: an empty title or greeting falls back to the name or the default.
    shown = {"id": lic.id, "title": config.title, "greeting": config.greeting, **config.theme}
    emit(data, as_json, lambda: "\n".join(f"{k}: {v}" for k, v in shown.items()))


@app.command("identity-secret")
def licensee_identity_secret(
    licensee_id: LicenseeArg,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Issue a new one: hashes made with the old one fail.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the secret that signs the licensee's user ids.

    The licensee's server signs the ids of its logged-in users (hello.user) with it."""
    with database() as (settings, db), db.session() as session:
        if rotate:
            lic = identity.rotate(session, licensee_id, utcnow())
            session.commit()
        else:
            lic = get_licensee(session, licensee_id)
    secret = identity.identity_secret(settings.secret(), lic.id, lic.identity_epoch)
    data = {"id": lic.id, "identity_secret": secret, "epoch": lic.identity_epoch, "rotated": rotate}
    emit(data, as_json, lambda: secret)
    if rotate and not as_json:
        typer.echo("rotated: user hashes made with the previous secret no longer verify", err=True)


@app.command("suspend")
def licensee_suspend(licensee_id: LicenseeArg, as_json: JsonOpt = False) -> None:
    """Suspend a licensee: its open conversations end.

    Widgets show 'service unavailable' until the licensee is resumed."""
    with database() as (settings, db), db.session() as session:
        ended = suspend(session, licensee_id, utcnow())
        session.commit()
    tell_servers(settings, Topic.LICENCE, {"licensee_id": licensee_id})
    data = {"id": licensee_id, "status": "suspended", "ended_conversations": len(ended)}
    emit(data, as_json, lambda: f"{licensee_id}: suspended")


@app.command("resume")
def licensee_resume(licensee_id: LicenseeArg, as_json: JsonOpt = False) -> None:
    """Resume a suspended licensee."""
    with database() as (settings, db), db.session() as session:
        licensee = resume(session, licensee_id, utcnow())
        session.commit()
    tell_servers(settings, Topic.LICENCE, {"licensee_id": licensee.id})
    data = {"id": licensee.id, "status": licensee.status, "ended_conversations": 0}
    emit(data, as_json, lambda: f"{licensee.id}: {licensee.status}")


def billing_summary(account: BillingAccount) -> dict[str, Any]:
    return {
        "base_fee": text(account.base_fee),
        "signed_on": None if account.signed_on is None else account.signed_on.isoformat(),
        "access_compensation_fee": text(account.access_compensation_fee),
        "suspension_exception": account.suspension_exception,
        "notice_date": None if account.notice_date is None else account.notice_date.isoformat(),
        "termination_date": (
            None if account.termination_date is None else account.termination_date.isoformat()
        ),
        "invoice_title": account.invoice_title,
        "tax_id": account.tax_id,
        "invoice_address": account.invoice_address,
        "invoice_bank": account.invoice_bank,
    }


@app.command(
    "billing",
    epilog=examples(
        "kefu licensee billing lic_… --access-fee 5000 --tax-id 91310000MA1FL0000X",
        "kefu licensee billing lic_… --exception '已约定延期付款 agreed to pay late'",
    ),
)
def licensee_billing(
    licensee_id: LicenseeArg,
    access_fee: Annotated[
        str | None,
        typer.Option(metavar="AMOUNT", help="Access compensation fee of an early termination."),
    ] = None,
    exception: Annotated[
        str | None,
        typer.Option(metavar="REASON", help="Do not suspend it for arrears, for this reason."),
    ] = None,
    no_exception: Annotated[
        bool, typer.Option("--no-exception", help="Withdraw the exception.")
    ] = False,
    invoice_title: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Invoice title (default the name).")
    ] = None,
    tax_id: Annotated[str | None, typer.Option(metavar="TEXT", help="Taxpayer ID.")] = None,
    address: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Invoice address and phone.")
    ] = None,
    bank: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Invoice bank and account.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a licensee's billing terms and invoice details.

    Only the options given change. An exception keeps a licensee with arrears of more than 15
    days from being suspended automatically; its reason is kept."""
    now = utcnow()
    with database() as (_s, db), db.session() as session:
        account = set_terms(
            session,
            licensee_id,
            now,
            access_compensation_fee=(
                None if access_fee is None else parse_money(access_fee, "--access-fee")
            ),
            exception=exception,
            clear_exception=no_exception,
        )
        account = set_invoice_details(
            session,
            licensee_id,
            now,
            invoice_title=invoice_title,
            tax_id=tax_id,
            invoice_address=address,
            invoice_bank=bank,
        )
        # Lifting an exception may suspend at once, granting one may resume.
        enforce(session, licensee_id, now)
        session.commit()
        data = {"id": licensee_id, **billing_summary(account)}
    emit(data, as_json, lambda: json.dumps(data, ensure_ascii=False, indent=2))


@app.command("terminate", epilog=examples("kefu licensee terminate lic_… --notice-date 2026-12-06"))
def licensee_terminate(
    licensee_id: LicenseeArg,
    notice_date: Annotated[
        str, typer.Option(metavar="DATE", help="The day the licensee gave notice, YYYY-MM-DD.")
    ],
    fee_due: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="The access fee's due date, for a year the holiday calendar does not know yet.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """End a licence early, 30 days after the licensee's notice.

    The access compensation fee (kefu licensee billing --access-fee) is billed at once and any
    prepaid balance is refunded; usage up to the end is billed by the monthly statements."""
    day = parse_date(notice_date, "--notice-date")
    assert day is not None
    with database() as (_s, db), db.session() as session:
        result = terminate(session, licensee_id, day, utcnow(), parse_date(fee_due, "--fee-due"))
        session.commit()
    data = {
        "id": licensee_id,
        "notice_date": day.isoformat(),
        "service_end": result.termination_date.isoformat(),
        "bill": None if result.bill is None else statement_number(result.bill.statement),
        "refunded": text(result.refunded),
    }
    emit(data, as_json, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))


def required_date(value: str, name: str) -> date:
    day = parse_date(value, name)
    if day is None:  # only for the type checker: the option is required
        raise InvalidInput(f"{name} is required")
    return day


@app.command(
    "renew",
    epilog=examples(
        "kefu licensee renew lic_… --end 2027-12-31",
        "kefu licensee renew lic_… --end 2027-12-31 --json",
    ),
)
def licensee_renew(
    licensee_id: LicenseeArg,
    end: Annotated[
        str,
        typer.Option(
            metavar="DATE", help="The new service end, YYYY-MM-DD, inclusive, after the current."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Renew a licence: a later service end date.

    A licence revoked a month past its end is active again if its data was not purged yet."""
    new_end = required_date(end, "--end")
    with database() as (_s, db), db.session() as session:
        renewal = renew(session, licensee_id, new_end, utcnow())
        session.commit()
    lic = renewal.licensee
    data = {
        "id": lic.id,
        "status": lic.status,
        "service_start": lic.service_start.isoformat(),
        "service_end": lic.service_end.isoformat(),
        "previous_end": renewal.previous_end.isoformat(),
        "revocation_lifted": renewal.lifted,
    }
    lifted = " (revocation lifted)" if renewal.lifted else ""
    emit(data, as_json, lambda: f"{lic.id}: service ends {data['service_end']}{lifted}")


@app.command(
    "open",
    epilog=examples("kefu licensee open lic_… --on 2026-12-15"),
)
def licensee_open(
    licensee_id: LicenseeArg,
    on: Annotated[
        str, typer.Option("--on", metavar="DATE", help="The day it opened, YYYY-MM-DD (its zone).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Record a late opening: both dates move by the delay.

    Once per licence, and only before it served a billed conversation."""
    day = required_date(on, "--on")
    with database() as (_s, db), db.session() as session:
        lic = open_late(session, licensee_id, day, utcnow())
        session.commit()
    data = {
        "id": lic.id,
        "service_start": lic.service_start.isoformat(),
        "service_end": lic.service_end.isoformat(),
    }
    emit(
        data, as_json, lambda: f"{lic.id}: service {data['service_start']} to {data['service_end']}"
    )
