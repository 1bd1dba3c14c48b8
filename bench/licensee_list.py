"""The console's licensee list on PostgreSQL with 1,000 licensees and 10,000,000 conversations:
the page's query (50 licensees, this month's billable units each, read from the daily figures
that the first refresh builds) timed, with the plan of counting the units from the rows instead.

    .venv/bin/python bench/licensee_list.py [--conversations 10000000] [--runs 30]

Rows are made by INSERT ... SELECT generate_series in the database (a few minutes for 10M on a
busy 2-core machine); the schema is dropped afterwards."""

from __future__ import annotations

import argparse
import os
import statistics
import time

from sqlalchemy import text
from sqlmodel import Session

from admin.services.reading import licensee_page
from core.db.engine import Database
from core.db.tables import Licensee
from core.reporting.daily import refresh
from core.reporting.units import units_this_month
from core.types import utcnow
from testkit.databases import postgres_schema

LICENSEES = 1000


def build(db: Database, conversations: int) -> None:
    with db.write_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO licensees (id, name, status, timezone, service_start, service_end,"
                " idle_timeout_minutes, locale, title, greeting, theme_color, widget_position,"
                " identity_epoch, kb_version, created_at, updated_at)"
                " SELECT 'lic_b' || lpad(i::text, 6, '0'), 'Shop ' || i, 'active', 'Asia/Shanghai',"
                " current_date - 200, current_date + 165, 30, 'zh-CN', '', '', '#2563eb', 'right',"
                " 0, 0, now() - (i || ' seconds')::interval, now()"
                " FROM generate_series(1, :n) AS i"
            ),
            {"n": LICENSEES},
        )
        conn.execute(
            text(
                "INSERT INTO api_keys (id, licensee_id, kind, token_hash, display, created_at)"
                " SELECT 'key_b' || lpad(i::text, 6, '0'), 'lic_b' || lpad(i::text, 6, '0'),"
                " 'live', md5(i::text), 'pk_live_b' || i, now() FROM generate_series(1, :n) AS i"
            ),
            {"n": LICENSEES},
        )
    # In chunks of a million: one transaction of 10M rows needs a lot of WAL at once.
    chunk = 1_000_000
    for first in range(0, conversations, chunk):
        last = min(conversations, first + chunk) - 1
        with db.write_engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO conversations (id, licensee_id, visitor_id, key_id, test,"
                    " beyond_term, started_at, last_activity_at, ended_at, end_reason, last_seq)"
                    " SELECT 'cnv_' || lpad(n::text, 10, '0'),"
                    " 'lic_b' || lpad((1 + n % :l)::text, 6, '0'), 'v' || n,"
                    " 'key_b' || lpad((1 + n % :l)::text, 6, '0'), n % 50 = 0, false,"
                    " t, t, t + interval '5 minutes', 'idle', 0"
                    " FROM (SELECT n, now() - ((n * 7919) % (180 * 86400) || ' seconds')::interval"
                    " AS t FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS n) AS g"
                ),
                {"l": LICENSEES, "a": first, "b": last},
            )
        print(f"  {last + 1:,} conversations", flush=True)
    with db.write_engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def timed(fn: object, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with postgres_schema() as url:
        db = Database(url)
        db.migrate()
        started = time.perf_counter()
        build(db, args.conversations)
        print(
            f"built {LICENSEES} licensees, {args.conversations:,} conversations in "
            f"{time.perf_counter() - started:.0f} s"
        )
        now = utcnow()
        began = time.perf_counter()
        with db.session() as session:  # the daily figures the units are read from
            refresh(session, now)
            session.commit()
        print(f"daily figures from the rows: {time.perf_counter() - began:.0f} s")

        def first_page() -> None:
            db.read(lambda s: licensee_page(s, now))

        def search() -> None:
            db.read(lambda s: licensee_page(s, now, q="shop 99"))

        def one_licensee() -> None:
            def count(s: Session) -> dict[str, int]:
                licensee = s.get(Licensee, "lic_b000001")
                assert licensee is not None
                return units_this_month(s, [licensee], now)

            db.read(count)

        for name, fn in (
            ("first page (50 licensees)", first_page),
            ("search 'shop 99'", search),
            ("one licensee's units", one_licensee),
        ):
            p50, p95 = timed(fn, args.runs)
            print(f"{name:28} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        with db.engine.connect() as conn:
            ids = [f"lic_b{i:06d}" for i in range(1, 51)]
            plan = conn.execute(
                text(
                    "EXPLAIN (ANALYZE, BUFFERS) SELECT licensee_id, count(*) FROM conversations"
                    " WHERE licensee_id = ANY(:ids) AND started_at >= date_trunc('month', now())"
                    " AND started_at < date_trunc('month', now()) + interval '1 month'"
                    " AND test IS false GROUP BY licensee_id"
                ),
                {"ids": ids},
            ).all()
        print("\n".join(row[0] for row in plan))
        print(
            f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} "
            f"{os.getloadavg()[2]:.1f} on {os.cpu_count()} cores"
        )
        db.close()


if __name__ == "__main__":
    main()
