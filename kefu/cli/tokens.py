"""``kefu tokens``: the upstream model token ledger: packages, pay-as-you-go prices, the
monthly cost and margin report."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

import typer

from core.db.tables import TokenPackage
from core.errors import InvalidInput
from core.ledger.money import LEDGER_ZONE, cents, plain, shown
from core.ledger.report import LicenseeMonth, MonthlyReport, alerts, monthly_report
from core.ledger.tokens import add_package, package_status, redeem, set_price
from core.licensing.service_period import local_date, month_of, zone
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, parse_date, parse_moment
from kefu.cli.output import emit

app = Typer(help="The model token ledger: packages, prices, cost and margin.")

_ROUNDING_NOTE = "amounts rounded half-up to 0.01; the *_exact values are the exact sums"


def _ledger_moment(value: str | None, name: str, now: datetime) -> datetime:
    """``now``; a YYYY-MM-DD date, meaning its start in the ledger's zone; or an ISO time."""
    if value is None:
        return now
    day = parse_date(value, name) if len(value) == 10 else None
    if day is not None:
        return datetime.combine(day, time(0), zone(LEDGER_ZONE))
    return parse_moment(value, name)


def _amounts(**named: Any) -> dict[str, str]:
    """Each amount rounded for reading and exact for adding up."""
    out: dict[str, str] = {}
    for key, amount in named.items():
        out[key] = plain(cents(amount))
        out[f"{key}_exact"] = plain(amount)
    return out


def _package_data(package: TokenPackage, status: str) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
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


@app.command(
    "add-package",
    epilog=examples(
        "kefu tokens add-package --provider deepseek --tokens 500000000 --price 2000",
        "kefu tokens add-package --provider deepseek --tokens 500000000 --price 2000"
        " --purchased 2026-11-03 --name 'November'",
    ),
)
def tokens_add_package(
    provider: Annotated[
        str, typer.Option(metavar="NAME", help="The model provider, e.g. deepseek.")
    ],
    tokens: Annotated[
        int, typer.Option(metavar="N", help="Tokens in the package, e.g. 500000000.")
    ],
    price: Annotated[str, typer.Option(metavar="AMOUNT", help="What the package cost, e.g. 2000.")],
    currency: Annotated[
        str, typer.Option(metavar="CODE", help="The price's currency (ISO 4217).")
    ] = "CNY",
    name: Annotated[str, typer.Option(metavar="LABEL", help="A label for the package.")] = "",
    purchased: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN", help="When bought: YYYY-MM-DD (Asia/Shanghai) or ISO time; default now."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a bought token package.

    It must be redeemed within 30 days of purchase to fund anything."""

    now = utcnow()
    purchased_at = _ledger_moment(purchased, "--purchased", now)
    with database() as (_s, db), db.session() as session:
        package = add_package(session, provider, tokens, price, currency, name, purchased_at, now)
        session.commit()
    data = _package_data(package, package_status(package, now))
    emit(data, as_json, lambda: f"{data['id']}: redeem by {data['redeem_by']}")


@app.command("redeem", epilog=examples("kefu tokens redeem pkg_… --at 2026-11-05"))
def tokens_redeem(
    package_id: Annotated[str, typer.Argument(metavar="PACKAGE", help="The package's id (pkg_…).")],
    at: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="When redeemed: YYYY-MM-DD (Asia/Shanghai) or ISO time; default now.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Redeem a package.

    Its tokens fund calls from then on and expire 360 days later."""

    now = utcnow()
    redeemed_at = _ledger_moment(at, "--at", now)
    if redeemed_at > now:
        raise InvalidInput("--at is in the future: redeem a package when it is redeemed")
    with database() as (_s, db), db.session() as session:
        package = redeem(session, package_id, redeemed_at)
        session.commit()
    data = _package_data(package, package_status(package, now))
    emit(data, as_json, lambda: f"{data['id']}: redeemed, expires {data['expires_at']}")


@app.command(
    "price",
    epilog=examples(
        "kefu tokens price --provider deepseek --model deepseek-chat --input 2 --output 8"
        " --cache-hit 0.5 --from 2026-12-01"
    ),
)
def tokens_price(
    provider: Annotated[str, typer.Option(metavar="NAME", help="The model provider.")],
    model: Annotated[
        str, typer.Option(metavar="MODEL", help="The model's name as the provider spells it.")
    ],
    input_price: Annotated[
        str, typer.Option("--input", metavar="PRICE", help="Per million input tokens.")
    ],
    output_price: Annotated[
        str, typer.Option("--output", metavar="PRICE", help="Per million output tokens.")
    ],
    cache_hit_price: Annotated[
        str,
        typer.Option("--cache-hit", metavar="PRICE", help="Per million cache-hit input tokens."),
    ],
    effective: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="In force from YYYY-MM-DD (Asia/Shanghai); default today.",
        ),
    ] = None,
    currency: Annotated[
        str | None, typer.Option(metavar="CODE", help="Default: the provider's currency, else CNY.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a model's pay-as-you-go prices.

    They apply once the provider's packages run out."""

    day = parse_date(effective, "--from") or local_date(utcnow(), LEDGER_ZONE)
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


def _licensee_line(line: LicenseeMonth) -> dict[str, Any]:
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


def _totals(report: MonthlyReport) -> list[dict[str, Any]]:
    return [
        {
            "currency": t.currency,
            **_amounts(cost=t.cost, revenue=t.revenue),
            **({} if t.margin is None else _amounts(margin=t.margin)),
        }
        for t in report.totals
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


@app.command("report", epilog=examples("kefu tokens report --month 2026-11 --json"))
def tokens_report(
    month: Annotated[
        str | None, typer.Option(metavar="YYYY-MM", help="Default: this month (Asia/Shanghai).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A month's packages, alerts, cost, revenue and margin.

    Packages with what is left and when it expires, alerts, and each licensee's month (in its
    own time zone): calls, tokens, cost, revenue and margin."""

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
        "totals": _totals(report),
    }
    emit(data, as_json, lambda: _report_text(data))
