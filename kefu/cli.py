"""The ``kefu`` command line: serve, demo, licensees, keys, origins, knowledge base, usage."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from core.db.engine import Database
from core.errors import KefuError
from core.settings import Settings, load_settings

app = typer.Typer(
    help="Kefu: a licensed customer-service robot.", no_args_is_help=True, add_completion=False
)
licensee_app = typer.Typer(
    help="Create, list, show, configure, suspend and resume licensees; identity secrets."
)
key_app = typer.Typer(help="Create and revoke keys.")
origin_app = typer.Typer(help="Add and remove allowed origins.")
kb_app = typer.Typer(help="Import and export a licensee's knowledge base.")
maintenance_app = typer.Typer(help="Announce and list planned maintenance windows.")
app.add_typer(licensee_app, name="licensee")
app.add_typer(key_app, name="key")
app.add_typer(origin_app, name="origin")
app.add_typer(kb_app, name="kb")
app.add_typer(maintenance_app, name="maintenance")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
LicenseeOpt = Annotated[str, typer.Option("--licensee", help="The licensee's id.")]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emit(data: dict[str, Any], as_json: bool, human: Callable[[], str]) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        typer.echo(human())


@contextmanager
def database(migrate: bool = True) -> Iterator[tuple[Settings, Database]]:
    """Settings and a migrated database for one command; any KefuError becomes a clean exit."""
    try:
        settings = load_settings()
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    except KefuError as exc:
        fail(str(exc))
    try:
        if migrate:
            db.migrate()
        yield settings, db
    except KefuError as exc:
        fail(str(exc))
    finally:
        db.close()


# ---------------------------------------------------------------- serve, demo


def _serve(
    settings: Settings, host: str | None, port: int | None, demo_key: str | None = None
) -> None:
    import uvicorn

    from kefu.app import create_app, transport_options

    application = create_app(settings)
    application.state.demo_site_key = demo_key
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        **transport_options(settings),
        proxy_headers=True,
        timeout_graceful_shutdown=5,
        log_level="info",
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Migrate the database if needed and serve chat, widget and API."""
    with database() as (settings, _db):
        pass
    _serve(settings, host, port)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """A working demo: demo licensee, bilingual knowledge base, a shop page at /demo."""
    from kefu.demo import ensure_demo

    with database() as (settings, db):
        bind_host, bind_port = host or settings.host, port or settings.port
        site_key = ensure_demo(db, settings, bind_host, bind_port)
    shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
    typer.echo(f"Demo shop: http://{shown}:{bind_port}/demo", err=True)
    _serve(settings, bind_host, bind_port, demo_key=site_key)


# ---------------------------------------------------------------- licensees


def _parse_date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be YYYY-MM-DD, got {value!r}")


@licensee_app.command("create")
def licensee_create(
    name: Annotated[str, typer.Option("--name", help="The licensee's name.")],
    origin: Annotated[list[str], typer.Option("--origin", help="An allowed origin (repeat).")],
    unit_price: Annotated[str, typer.Option(help="CNY per usage unit.")] = "0.50",
    start: Annotated[str | None, typer.Option(help="Service start, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Service end, YYYY-MM-DD (inclusive).")] = None,
    timezone: Annotated[str, typer.Option(help="The licensee's time zone.")] = "Asia/Shanghai",
    idle_minutes: Annotated[
        int | None, typer.Option(help="Idle timeout, 5 to 1440 minutes (default: setting).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a licensee; prints its id, site keys and secret key (shown only this once)."""
    from core.licensing.licensees import create_licensee, parse_price
    from core.types import utcnow

    with database() as (settings, db), db.session() as session:
        licensee, keys = create_licensee(
            session,
            name=name,
            origins=origin,
            now=utcnow(),
            unit_price=parse_price(unit_price),
            start=_parse_date(start, "--start"),
            end=_parse_date(end, "--end"),
            timezone=timezone,
            idle_timeout_minutes=idle_minutes or settings.default_idle_timeout_minutes,
        )
        session.commit()
        data = {
            "id": licensee.id,
            "site_key": keys.site_key,
            "test_site_key": keys.test_site_key,
            "secret_key": keys.secret_key,
        }
    emit(
        data,
        as_json,
        lambda: (
            "\n".join(f"{k}: {v}" for k, v in data.items())
            + "\n(the secret key is shown only now: keep it safe)"
        ),
    )


def _licensee_summary(session: Any, licensee: Any) -> dict[str, Any]:
    from sqlmodel import select

    from core.db.tables import ApiKey
    from core.licensing.licensees import list_origins

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
            {
                "id": k.id,
                "kind": k.kind,
                "key": k.display,
                "revoked": k.revoked_at is not None,
            }
            for k in keys
        ],
    }


@licensee_app.command("list")
def licensee_list(as_json: JsonOpt = False) -> None:
    """List every licensee."""
    from sqlmodel import col, select

    from core.db.tables import Licensee

    with database() as (_s, db), db.read_session() as session:
        rows = session.exec(select(Licensee).order_by(col(Licensee.created_at))).all()
        data = {
            "licensees": [
                {"id": r.id, "name": r.name, "status": r.status, "service_end": str(r.service_end)}
                for r in rows
            ]
        }
    emit(
        data,
        as_json,
        lambda: (
            "\n".join(f"{r['id']}  {r['status']:<9}  {r['name']}" for r in data["licensees"])
            or "(no licensees)"
        ),
    )


@licensee_app.command("show")
def licensee_show(licensee_id: str, as_json: JsonOpt = False) -> None:
    """Show one licensee with its origins and keys (secret keys only by prefix)."""
    from core.licensing.licensees import get_licensee

    with database() as (_s, db), db.read_session() as session:
        data = _licensee_summary(session, get_licensee(session, licensee_id))
    emit(data, as_json, lambda: json.dumps(data, ensure_ascii=False, indent=2))


def _set_status(licensee_id: str, status: str, as_json: bool) -> None:
    from core.chat import conversations as units
    from core.chat.frames import EndReason
    from core.db.tables import LicenceStatus
    from core.licensing.licensees import set_status
    from core.types import utcnow

    with database() as (_s, db):
        now = utcnow()
        with db.session() as session:
            licensee = set_status(session, licensee_id, LicenceStatus(status), now)
            session.commit()
        ended = []
        if status == LicenceStatus.SUSPENDED:
            # Suspension ends every open unit; running servers close the sockets on their own.
            ended = db.writer.run(
                lambda conn: units.end_all_open(conn, licensee_id, EndReason.SUSPENDED, now)
            )
        data = {"id": licensee.id, "status": licensee.status, "ended_conversations": len(ended)}
    emit(data, as_json, lambda: f"{data['id']}: {data['status']}")


@licensee_app.command("configure")
def licensee_configure(
    licensee_id: str,
    title: Annotated[
        str | None, typer.Option(help="The widget's title (<= 100 characters; '' = the name).")
    ] = None,
    greeting: Annotated[
        str | None, typer.Option(help="The first line the widget shows (<= 500; '' = default).")
    ] = None,
    color: Annotated[str | None, typer.Option(help="Brand colour, #rgb or #rrggbb.")] = None,
    position: Annotated[str | None, typer.Option(help="left or right.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the widget's look; prints the widget config that new connections get."""
    from core.chat import branding
    from core.licensing.appearance import configure, widget_config
    from core.types import utcnow

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


@licensee_app.command("identity-secret")
def licensee_identity_secret(
    licensee_id: str,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Issue a new one: hashes made with the old one fail.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the secret the licensee's server signs user ids with (hello.user)."""
    from core.licensing import identity
    from core.licensing.licensees import get_licensee
    from core.types import utcnow

    with database() as (settings, db), db.session() as session:
        if rotate:
            lic = identity.rotate(session, licensee_id, utcnow())
            session.commit()
        else:
            lic = get_licensee(session, licensee_id)
        secret = identity.identity_secret(settings.secret(), lic.id, lic.identity_epoch)
        data = {
            "id": lic.id,
            "identity_secret": secret,
            "epoch": lic.identity_epoch,
            "rotated": rotate,
        }
    emit(data, as_json, lambda: secret)
    if rotate and not as_json:
        typer.echo("rotated: user hashes made with the previous secret no longer verify", err=True)


@licensee_app.command("suspend")
def licensee_suspend(licensee_id: str, as_json: JsonOpt = False) -> None:
    """Suspend a licensee: open conversations end, widgets show 'service unavailable'."""
    _set_status(licensee_id, "suspended", as_json)


@licensee_app.command("resume")
def licensee_resume(licensee_id: str, as_json: JsonOpt = False) -> None:
    """Resume a suspended licensee."""
    _set_status(licensee_id, "active", as_json)


# ---------------------------------------------------------------- keys and origins


@key_app.command("create")
def key_create(
    licensee: LicenseeOpt,
    kind: Annotated[str, typer.Option(help="live, test or secret.")] = "live",
    as_json: JsonOpt = False,
) -> None:
    """Create a key; a secret key is shown only this once."""
    from core.db.tables import KeyKind
    from core.licensing.licensees import get_licensee, issue_key
    from core.types import utcnow

    if kind not in {k.value for k in KeyKind}:
        fail("--kind is live, test or secret")
    with database() as (_s, db), db.session() as session:
        get_licensee(session, licensee)
        token = issue_key(session, licensee, KeyKind(kind), utcnow())
        session.commit()
    data = {"licensee": licensee, "kind": kind, "key": token}
    emit(data, as_json, lambda: token)


@key_app.command("revoke")
def key_revoke(
    key: Annotated[str, typer.Argument(help="The key, or its id.")], as_json: JsonOpt = False
) -> None:
    """Revoke a key: new connections get 401, open ones are closed with a notice."""
    from core.licensing.licensees import revoke_key
    from core.types import utcnow

    with database() as (_s, db), db.session() as session:
        row = revoke_key(session, key, utcnow())
        session.commit()
        data = {"id": row.id, "licensee": row.licensee_id, "revoked": True}
    emit(data, as_json, lambda: f"revoked {data['id']}")


@origin_app.command("add")
def origin_add(licensee: LicenseeOpt, origin: str, as_json: JsonOpt = False) -> None:
    """Allow an origin (scheme://host[:port], or https://*.example.com)."""
    from core.licensing.licensees import add_origin

    with database() as (_s, db), db.session() as session:
        pattern = add_origin(session, licensee, origin)
        session.commit()
    emit({"licensee": licensee, "origin": pattern}, as_json, lambda: f"allowed {pattern}")


@origin_app.command("remove")
def origin_remove(licensee: LicenseeOpt, origin: str, as_json: JsonOpt = False) -> None:
    """Stop allowing an origin."""
    from core.licensing.licensees import remove_origin

    with database() as (_s, db), db.session() as session:
        pattern = remove_origin(session, licensee, origin)
        session.commit()
    emit(
        {"licensee": licensee, "origin": pattern, "removed": True},
        as_json,
        lambda: f"removed {pattern}",
    )


# ---------------------------------------------------------------- knowledge base


@kb_app.command("import")
def kb_import(
    licensee: LicenseeOpt,
    file: Annotated[Path, typer.Argument(help="A .csv, .xlsx or .json file.")],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows anyway.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a knowledge base; a file with bad rows imports nothing unless --skip-bad."""
    from tqdm import tqdm

    from core.knowledge.files import read_kb_file
    from core.knowledge.store import import_rows
    from core.licensing.licensees import get_licensee
    from core.types import utcnow

    with database() as (_s, db):
        with db.read_session() as session:
            get_licensee(session, licensee)
        if not file.is_file():
            fail(f"no such file: {file}")
        show_bar = not as_json and sys.stderr.isatty() and file.stat().st_size > 256 * 1024
        with tqdm(desc="reading", unit=" rows", disable=not show_bar, file=sys.stderr) as bar:

            def progress(rows: int) -> None:
                bar.update(rows - bar.n)

            result = read_kb_file(file, on_progress=progress)
        rejected = [{"line": r.line, "reason": r.reason} for r in result.rejected]
        added = updated = 0
        if not rejected or skip_bad:
            with db.session() as session:
                counts = import_rows(session, licensee, [p.row for p in result.rows], utcnow())
                session.commit()
            added, updated = counts.added, counts.updated
        data = {"added": added, "updated": updated, "rejected": rejected}

    def human() -> str:
        lines = [f"added {added}, updated {updated}, rejected {len(rejected)}"]
        lines += [f"  line {r['line']}: {r['reason']}" for r in rejected]
        if rejected and not skip_bad:
            lines.append("nothing was imported: fix the rows above or pass --skip-bad")
        return "\n".join(lines)

    emit(data, as_json, human)
    if rejected and not skip_bad:
        raise typer.Exit(1)


@kb_app.command("export")
def kb_export(
    licensee: LicenseeOpt,
    file: Annotated[Path, typer.Argument(help="Where to write: .csv, .xlsx or .json.")],
    as_json: JsonOpt = False,
) -> None:
    """Export a licensee's knowledge base in the import format."""
    from core.knowledge.files import write_kb_file
    from core.knowledge.store import load_entries
    from core.licensing.licensees import get_licensee

    with database() as (_s, db), db.read_session() as session:
        get_licensee(session, licensee)
        entries = load_entries(session, licensee)
        write_kb_file(entries, file)
    emit(
        {"entries": len(entries), "file": str(file)},
        as_json,
        lambda: f"exported {len(entries)} entries",
    )


# ---------------------------------------------------------------- maintenance


def _parse_moment(value: str, name: str) -> Any:
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{name} must be an ISO 8601 time with an offset, e.g. 2026-12-01T02:00+08:00")
    if moment.tzinfo is None:
        fail(f"{name} needs a time zone offset, e.g. +08:00")
    return moment


@maintenance_app.command("announce")
def maintenance_announce(
    start: Annotated[str, typer.Option(help="Start, ISO 8601 with offset (>= 1 day ahead).")],
    end: Annotated[str, typer.Option(help="End, ISO 8601 with offset.")],
    text: Annotated[str, typer.Option(help="What widgets show.")] = "",
    licensee: Annotated[str | None, typer.Option(help="Only this licensee.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Announce planned maintenance: widgets show it now and pause the chat during it."""
    from core.licensing.licensees import get_licensee
    from core.licensing.maintenance import announce
    from core.types import utcnow

    with database() as (_s, db), db.session() as session:
        if licensee:
            get_licensee(session, licensee)
        window = announce(
            session,
            starts_at=_parse_moment(start, "--start"),
            ends_at=_parse_moment(end, "--end"),
            now=utcnow(),
            text=text,
            licensee_id=licensee,
        )
        session.commit()
    data = {
        "id": window.id,
        "licensee": window.licensee_id,
        "starts_at": window.starts_at.isoformat(),
        "ends_at": window.ends_at.isoformat(),
        "text": window.text,
    }
    emit(data, as_json, lambda: f"announced {data['id']}: {data['starts_at']} to {data['ends_at']}")


@maintenance_app.command("list")
def maintenance_list(as_json: JsonOpt = False) -> None:
    """Windows that have not ended yet."""
    from core.licensing.maintenance import current_and_upcoming
    from core.types import utcnow

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


# ---------------------------------------------------------------- usage


@app.command()
def usage(
    licensee: LicenseeOpt,
    month: Annotated[str, typer.Option(help="YYYY-MM, in the licensee's time zone.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """A month's conversations (usage units) as CSV, one line per conversation."""
    from core.licensing.licensees import get_licensee
    from core.reporting.usage import USAGE_COLUMNS, month_usage
    from core.spreadsheet import csv_bytes

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


# ---------------------------------------------------------------- token ledger

tokens_app = typer.Typer(
    help="The upstream model token ledger: packages, pay-as-you-go prices, cost and margin."
)
app.add_typer(tokens_app, name="tokens")

_ROUNDING_NOTE = "amounts rounded half-up to 0.01; the *_exact values are the exact sums"


def _ledger_moment(value: str | None, name: str, now: Any) -> Any:
    """``now``; a YYYY-MM-DD date, meaning its start in the ledger's zone; or an ISO time."""
    from datetime import datetime, time

    from core.ledger.money import LEDGER_ZONE
    from core.licensing.service_period import zone

    if value is None:
        return now
    day = _parse_date(value, name) if len(value) == 10 else None
    if day is not None:
        return datetime.combine(day, time(0), zone(LEDGER_ZONE))
    return _parse_moment(value, name)


def _amounts(**named: Any) -> dict[str, str]:
    """Each amount rounded for reading and exact for adding up."""
    from core.ledger.money import cents, plain

    out: dict[str, str] = {}
    for key, amount in named.items():
        out[key] = plain(cents(amount))
        out[f"{key}_exact"] = plain(amount)
    return out


def _package_data(package: Any, status: str) -> dict[str, Any]:
    from core.ledger.money import plain, shown

    def when(moment: Any) -> str | None:
        return None if moment is None else shown(moment)

    return {
        "id": package.id,
        "provider": package.provider,
        "name": package.name,
        "tokens_total": package.tokens_total,
        "tokens_left": package.tokens_left,
        "price": plain(package.price),
        "currency": package.currency,
        "purchased_at": when(package.purchased_at),
        "redeem_by": when(package.redeem_by),
        "redeemed_at": when(package.redeemed_at),
        "expires_at": when(package.expires_at),
        "status": status,
    }


@tokens_app.command("add-package")
def tokens_add_package(
    provider: Annotated[str, typer.Option(help="The model provider, e.g. deepseek.")],
    tokens: Annotated[int, typer.Option(help="Tokens in the package, e.g. 500000000.")],
    price: Annotated[str, typer.Option(help="What the package cost, e.g. 2000.")],
    currency: Annotated[str, typer.Option(help="The price's currency.")] = "CNY",
    name: Annotated[str, typer.Option(help="A label for the package.")] = "",
    purchased: Annotated[
        str | None,
        typer.Option(help="When bought: YYYY-MM-DD (Asia/Shanghai) or ISO time; default now."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a bought token package: it must be redeemed within 30 days to fund anything."""
    from core.ledger.tokens import add_package, package_status
    from core.types import utcnow

    now = utcnow()
    purchased_at = _ledger_moment(purchased, "--purchased", now)
    with database() as (_s, db), db.session() as session:
        package = add_package(session, provider, tokens, price, currency, name, purchased_at, now)
        session.commit()
    data = _package_data(package, package_status(package, now))
    emit(data, as_json, lambda: f"{data['id']}: redeem by {data['redeem_by']}")


@tokens_app.command("redeem")
def tokens_redeem(
    package_id: Annotated[str, typer.Argument(help="The package's id (pkg_…).")],
    at: Annotated[
        str | None,
        typer.Option(help="When redeemed: YYYY-MM-DD (Asia/Shanghai) or ISO time; default now."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Redeem a package: its tokens fund calls from then on and expire 360 days later."""
    from core.ledger.tokens import package_status, redeem
    from core.types import utcnow

    now = utcnow()
    redeemed_at = _ledger_moment(at, "--at", now)
    if redeemed_at > now:
        fail("--at is in the future: redeem a package when it is redeemed")
    with database() as (_s, db), db.session() as session:
        package = redeem(session, package_id, redeemed_at)
        session.commit()
    data = _package_data(package, package_status(package, now))
    emit(data, as_json, lambda: f"{data['id']}: redeemed, expires {data['expires_at']}")


@tokens_app.command("price")
def tokens_price(
    provider: Annotated[str, typer.Option(help="The model provider.")],
    model: Annotated[str, typer.Option(help="The model's name as the provider spells it.")],
    input_price: Annotated[str, typer.Option("--input", help="Per million input tokens.")],
    output_price: Annotated[str, typer.Option("--output", help="Per million output tokens.")],
    cache_hit_price: Annotated[
        str, typer.Option("--cache-hit", help="Per million cache-hit input tokens.")
    ],
    effective: Annotated[
        str | None,
        typer.Option("--from", help="In force from YYYY-MM-DD (Asia/Shanghai); default today."),
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="Default: the provider's currency, else CNY.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a model's pay-as-you-go prices, used once the provider's packages run out."""
    from core.ledger.money import LEDGER_ZONE, plain
    from core.ledger.tokens import set_price
    from core.licensing.service_period import local_date
    from core.types import utcnow

    day = _parse_date(effective, "--from") or local_date(utcnow(), LEDGER_ZONE)
    with database() as (_s, db), db.session() as session:
        row = set_price(
            session,
            provider,
            model,
            input_price,
            output_price,
            cache_hit_price,
            day,
            currency,
        )
        session.commit()
    data = {
        "provider": row.provider,
        "model": row.model,
        "effective_from": row.effective_from.isoformat(),
        "input_per_million": plain(row.input_per_million),
        "output_per_million": plain(row.output_per_million),
        "cache_hit_per_million": plain(row.cache_hit_per_million),
        "currency": row.currency,
    }
    emit(
        data,
        as_json,
        lambda: (
            f"{data['provider']} {data['model']} from {data['effective_from']}: {data['currency']}"
            f" {data['input_per_million']} input, {data['output_per_million']} output,"
            f" {data['cache_hit_per_million']} cache hit per million tokens"
        ),
    )


def _licensee_line(line: Any) -> dict[str, Any]:
    return {
        "id": line.licensee_id,
        "name": line.name,
        "timezone": line.timezone,
        "complete": line.complete,
        "calls": line.calls,
        "tokens": {
            "input": line.input_tokens,
            "output": line.output_tokens,
            "cache_hit": line.cache_hit_tokens,
            "total": line.tokens,
        },
        "conversations": line.conversations,
        "units": line.units,
        "unpriced_units": line.unpriced_units,
        "unpriced_tokens": line.unpriced_tokens,
        "costs": [
            {
                "currency": c.currency,
                **_amounts(from_packages=c.from_packages, pay_as_you_go=c.pay_as_you_go),
                **_amounts(total=c.total),
            }
            for c in line.costs
        ],
        "revenue": [{"currency": r.currency, **_amounts(amount=r.amount)} for r in line.revenue],
        "margin": None
        if line.margin is None
        else {"currency": line.margin.currency, **_amounts(amount=line.margin.amount)},
    }


def _totals(lines: list[Any]) -> list[dict[str, Any]]:
    from collections import defaultdict
    from decimal import Decimal

    cost: defaultdict[str, Decimal] = defaultdict(Decimal)
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        for c in line.costs:
            cost[c.currency] += c.total
        for r in line.revenue:
            revenue[r.currency] += r.amount
    # A margin per currency means something only when no licensee mixes currencies.
    with_margin = all(line.margin is not None for line in lines)
    return [
        {
            "currency": currency,
            **_amounts(cost=cost[currency], revenue=revenue[currency]),
            **(_amounts(margin=revenue[currency] - cost[currency]) if with_margin else {}),
        }
        for currency in sorted(set(cost) | set(revenue))
    ]


def _report_text(data: dict[str, Any]) -> str:
    lines = [
        f"Token ledger, {data['month']} (amounts rounded half-up to 0.01; exact ones in --json)",
        "",
        "Packages",
    ]
    for p in data["packages"]:
        expiry = p["expires_at"] or f"redeem by {p['redeem_by']}"
        lines.append(
            f"  {p['id']}  {p['provider']}  {p['status']:<10}  {p['tokens_left']:,} of"
            f" {p['tokens_total']:,} left  {p['currency']} {p['price']}  {expiry}"
            + (f"  {p['name']}" if p["name"] else "")
        )
    if not data["packages"]:
        lines.append("  (none)")
    lines += ["", "Alerts"]
    lines += [f"  [{a['kind']}] {a['message']}" for a in data["alerts"]] or ["  (none)"]
    lines += ["", "Licensees (each month in the licensee's own time zone)"]
    for lic in data["licensees"]:
        costs = ", ".join(
            f"{c['currency']} {c['total']} (packages {c['from_packages']},"
            f" pay-as-you-go {c['pay_as_you_go']})"
            for c in lic["costs"]
        )
        revenue = ", ".join(f"{r['currency']} {r['amount']}" for r in lic["revenue"])
        margin = lic["margin"]
        lines.append(
            f"  {lic['id']}  {lic['name']}: {lic['calls']:,} calls, {lic['tokens']['total']:,}"
            f" tokens, cost {costs or '0'}; {lic['units']:,} units, revenue {revenue or '0'};"
            f" margin {margin['currency'] + ' ' + margin['amount'] if margin else 'n/a'}"
            + ("" if lic["complete"] else " (month not over)")
        )
    if not data["licensees"]:
        lines.append("  (no calls or conversations)")
    for t in data["totals"]:
        margin = f", margin {t['margin']}" if "margin" in t else ""
        lines.append(f"Total {t['currency']}: cost {t['cost']}, revenue {t['revenue']}{margin}")
    return "\n".join(lines)


@tokens_app.command("report")
def tokens_report(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM; default this month (Asia/Shanghai).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Packages with what is left and when it expires, alerts, and each licensee's month:
    calls, tokens, cost, revenue and margin."""
    from core.ledger.money import LEDGER_ZONE, plain, shown
    from core.ledger.report import alerts, monthly_report
    from core.licensing.service_period import month_of
    from core.types import utcnow

    now = utcnow()
    with database() as (_s, db), db.read_session() as session:
        report = monthly_report(session, month or month_of(now, LEDGER_ZONE), now)
        found = alerts(session, now)
    data = {
        "month": report.month,
        "rounding": _ROUNDING_NOTE,
        "packages": [
            {**_package_data(b.package, b.status), "used_cost": plain(b.used_cost)}
            for b in report.packages
        ],
        "alerts": [
            {
                "kind": a.kind.value,
                "provider": a.provider,
                "package": a.package_id,
                "message": a.message,
                "due": None if a.due is None else shown(a.due),
            }
            for a in found
        ],
        "licensees": [_licensee_line(line) for line in report.licensees],
        "totals": _totals(report.licensees),
    }
    emit(data, as_json, lambda: _report_text(data))


def main() -> None:
    app()


# `kefu model …` lives in its own module, which uses the helpers above.
from kefu.cli_models import model_app  # noqa: E402

app.add_typer(model_app, name="model")
