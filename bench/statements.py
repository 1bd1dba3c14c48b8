"""Statements at scale: one licensee's month of 1,000,000 conversations (the statement <= 2 s,
its itemised CSV streamed <= 10 s with flat memory) and, with ``--fleet``, all statements of
1,000 licensees holding 10,000,000 conversations on PostgreSQL (<= 60 s).

Rows are generated in the database (SQLite: one INSERT ... SELECT over a recursive counter;
PostgreSQL: generate_series), then the real code runs over them. The statement's COUNT per
price range on the (licensee_id, started_at) index is compared, in the same run, with reading
every row and pricing it in Python (the A/B behind that mechanism). Memory: the peak RSS growth
while the CSV streams, for a tenth of the rows and for all of them (flat = about the same).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from core.billing.detail import Row, csv_chunks, draft_rows
from core.billing.issued import issue_month
from core.billing.money import to_fen
from core.billing.prices import set_price
from core.billing.statements import compute_month
from core.db.engine import Database
from core.db.tables import KeyKind
from core.licensing.licensees import create_licensee, get_licensee
from testkit.databases import postgres_schema
from testkit.tenants import ORIGIN, key_id

MONTH = "2026-11"
# 1 November 00:00 in Shanghai, and the month's length in seconds.
START = datetime(2026, 10, 31, 16, tzinfo=UTC)
SECONDS = 30 * 24 * 3600


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def licensee(db: Database, name: str) -> tuple[str, str]:
    with db.session() as session:
        lic, _ = create_licensee(
            session,
            name=name,
            origins=[ORIGIN],
            now=datetime(2026, 1, 1, tzinfo=UTC),
            start=date(2026, 1, 1),
            end=date(2026, 12, 31),
            unit_price=Decimal("0.50"),
            allow_duplicate_name=True,
        )
        session.flush()
        # A price change in the middle of the month: two ranges, two lines.
        set_price(session, lic.id, Decimal("0.45"), date(2026, 11, 16))
        session.commit()
    return lic.id, key_id(db, lic.id, KeyKind.LIVE)


def fill(db: Database, pairs: list[tuple[str, str]], per_licensee: int) -> float:
    """``per_licensee`` conversations spread over the month for each licensee; 1 in 50 a test."""
    began = time.perf_counter()
    step = SECONDS // per_licensee or 1
    with db.write_engine.begin() as conn:
        for index, (lid, key) in enumerate(pairs):
            params = {
                "lic": lid,
                "key": key,
                "n": per_licensee,
                "step": step,
                "p": f"conv_{index:05d}",
            }
            if db.is_sqlite:
                conn.execute(
                    text(
                        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s"
                        " WHERE i + 1 < :n)"
                        " INSERT INTO conversations (id, licensee_id, visitor_id, key_id, test,"
                        " beyond_term, started_at, last_activity_at, ended_at, end_reason,"
                        " last_seq) SELECT :p || '-' || i, :lic, 'v' || (i % 5000), :key,"
                        " i % 50 = 0, i % 97 = 0,"
                        " datetime('2026-10-31 16:00:00', '+' || (i * :step) || ' seconds'),"
                        " datetime('2026-10-31 16:00:00', '+' || (i * :step) || ' seconds'),"
                        " datetime('2026-10-31 16:05:00', '+' || (i * :step) || ' seconds'),"
                        " 'closed', 2 FROM s"
                    ),
                    params,
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO conversations (id, licensee_id, visitor_id, key_id, test,"
                        " beyond_term, started_at, last_activity_at, ended_at, end_reason,"
                        " last_seq) SELECT :p || '-' || i, :lic, 'v' || (i % 5000), :key,"
                        " i % 50 = 0, i % 97 = 0,"
                        " timestamptz '2026-10-31 16:00:00+00' + make_interval(secs => i * :step),"
                        " timestamptz '2026-10-31 16:00:00+00' + make_interval(secs => i * :step),"
                        " timestamptz '2026-10-31 16:05:00+00' + make_interval(secs => i * :step),"
                        " 'closed', 2 FROM generate_series(0, :n - 1) AS i"
                    ),
                    params,
                )
        if not db.is_sqlite:
            conn.execute(text("ANALYZE conversations"))
    return time.perf_counter() - began


def one_month(db: Database, rows: int) -> None:
    lid, key = licensee(db, "Big")
    print(f"generating {rows:,} conversations ...", flush=True)
    print(f"  generated in {fill(db, [(lid, key)], rows):.1f} s ({load()})")
    with db.read_session() as session:
        lic = get_licensee(session, lid)
        for attempt in range(3):
            began, cpu = time.perf_counter(), time.process_time()
            statement = compute_month(session, lic, MONTH)
            counted, counted_cpu = time.perf_counter() - began, time.process_time() - cpu
            began = time.perf_counter()
            total, units = Decimal(0), 0
            by_price: dict[Decimal, int] = {}
            for _, _, price, _, _ in draft_rows(session, lic, MONTH):
                by_price[price] = by_price.get(price, 0) + 1
            for price, n in by_price.items():
                units += n
                total += to_fen(price * n)
            naive = time.perf_counter() - began
            assert units == statement.units, (units, statement.units)
            print(
                f"  statement (round {attempt + 1}): COUNT per price range {counted:.3f} s"
                f" ({counted_cpu:.3f} s CPU),"
                f" every row in Python {naive:.3f} s; {statement.units:,} units,"
                f" total {statement.total} ({load()})"
            )
        verdict = "PASS" if counted <= 2 else "FAIL"
        print(f"statement of {rows:,} conversations: {counted:.3f} s (target <= 2 s) {verdict}")

        for share, fast in ((10, True), (1, False), (1, True)):
            before = rss_kib()
            began, cpu = time.perf_counter(), time.process_time()
            size = 0
            limit = statement.units // share
            rows_ = _take(draft_rows(session, lic, MONTH), limit)
            for chunk in csv_chunks(rows_, lic.timezone, fast=fast):
                size += len(chunk)
            spent = time.perf_counter() - began
            grew = rss_kib() - before
            print(
                f"  detail CSV of {limit:,} rows ({'own lines' if fast else 'csv module'}):"
                f" {spent:.2f} s wall, {time.process_time() - cpu:.2f} s CPU,"
                f" {size / 1e6:.1f} MB, peak RSS grew {grew / 1024:.1f} MiB ({load()})"
            )
        verdict = "PASS" if spent <= 10 else "FAIL"
        print(f"itemised CSV streamed: {spent:.2f} s (target <= 10 s) {verdict}")
    # Issuing copies every unit into the statement's items and hashes their CSV: no target,
    # but the billing job pays it once a month per licensee.
    with db.session() as session:
        began, cpu = time.perf_counter(), time.process_time()
        result = issue_month(session, lid, MONTH, datetime(2026, 12, 4, tzinfo=UTC))
        session.commit()
        print(
            f"issue (items copied, SHA-256 of {result.statement.detail_rows:,} lines):"
            f" {time.perf_counter() - began:.1f} s wall, {time.process_time() - cpu:.1f} s CPU"
            f" ({load()})"
        )


def _take(rows: Iterator[Row], limit: int) -> Iterator[Row]:
    for index, row in enumerate(rows):
        if index >= limit:
            return
        yield row


def fleet(db: Database, licensees: int, total: int) -> None:
    pairs = [licensee(db, f"L{n}") for n in range(licensees)]
    print(f"generating {total:,} conversations over {licensees:,} licensees ...", flush=True)
    print(f"  generated in {fill(db, pairs, total // licensees):.1f} s ({load()})")
    began = time.perf_counter()
    units = 0
    with db.read_session() as session:
        for lid, _ in pairs:
            units += compute_month(session, get_licensee(session, lid), MONTH).units
    spent = time.perf_counter() - began
    verdict = "PASS" if spent <= 60 else "FAIL"
    print(
        f"all {licensees:,} statements ({units:,} units): {spent:.1f} s (target <= 60 s)"
        f" {verdict} ({load()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fleet", action="store_true", help="1,000 licensees on PostgreSQL")
    parser.add_argument("--licensees", type=int, default=1000)
    parser.add_argument("--total", type=int, default=10_000_000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {load()}")
    if args.fleet or args.db == "postgres":
        with postgres_schema() as url:
            db = Database(url)
            db.migrate()
            try:
                fleet(db, args.licensees, args.total) if args.fleet else one_month(db, args.rows)
            finally:
                db.close()
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="OFF")
        db.migrate()
        try:
            one_month(db, args.rows)
        finally:
            db.close()


if __name__ == "__main__":
    main()
