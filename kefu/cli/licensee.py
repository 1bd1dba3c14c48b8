"""``kefu licensee``: create, list, show, configure, suspend and resume licensees."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from sqlmodel import Session, col, select

from core.bus import Topic
from core.chat import branding
from core.db.tables import ApiKey, Licensee
from core.errors import InvalidInput
from core.licensing import identity
from core.licensing.appearance import configure, widget_config
from core.licensing.licensees import create_licensee, get_licensee, list_origins, parse_price
from core.licensing.renewal import open_late, renew
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
        session.commit()
    data = {
        "id": licensee.id,
        "site_key": keys.site_key,
        "test_site_key": keys.test_site_key,
        "secret_key": keys.secret_key,
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
