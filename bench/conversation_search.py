"""The console's conversation search at scale: 1,000 licensees and 10,000,000 conversations in
PostgreSQL (one in 20 rated), then each kind of search the page makes, timed over repeated runs:
by licensee (first page and a page deep in the results by keyset), by licensee and a month, by
end reason, by low rating, and across every licensee. The A/B behind keyset paging: the same deep
page read with OFFSET, in the same run.

Rows are generated with generate_series; the secondary indexes are dropped while loading and
built afterwards (as a bulk load would), then ANALYZE.

    python bench/conversation_search.py                        # the full size
    python bench/conversation_search.py --conversations 500000 --licensees 100
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Index, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, pct

from core.chat import transcripts as tr
from core.chat.frames import EndReason
from core.db.engine import Database
from core.db.tables import Conversation, Rating
from core.licensing.licensees import create_licensee
from testkit.databases import postgres_schema
from testkit.tenants import ORIGIN

FIRST_DAY = date(2025, 12, 1)
DAYS = 365
BATCH = 1_000_000
JUNE = (date(2026, 6, 1), date(2026, 6, 30))
REASONS = ("idle", "closed", "idle", "agent", "idle", "max_length")


def licensees(db: Database, n: int) -> list[str]:
    with db.session() as session:
        ids = [
            create_licensee(
                session,
                name=f"商户 {i:04d}",
                origins=[ORIGIN],
                now=datetime(2025, 11, 1, tzinfo=UTC),
                start=date(2025, 11, 1),
                end=date(2027, 10, 31),
                unit_price=Decimal("0.50"),
                allow_duplicate_name=True,
            )[0].id
            for i in range(n)
        ]
        session.commit()
    return ids


def secondary_indexes() -> list[Index]:
    keep = {"uq_conversations_open_visitor"}
    tables = (Conversation.__table__, Rating.__table__)  # type: ignore[attr-defined]
    return [i for t in tables for i in t.indexes if i.name not in keep]


def generate(db: Database, conversations: int) -> None:
    start = datetime.combine(FIRST_DAY, datetime.min.time(), UTC) - timedelta(hours=8)
    step = DAYS * 86400 / conversations
    indexes = secondary_indexes()
    with db.write_engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
        conn.execute(
            text(
                "CREATE TEMP TABLE bench_lic AS SELECT l.id, k.id AS key,"
                " row_number() OVER (ORDER BY l.id) - 1 AS n FROM licensees l"
                " JOIN api_keys k ON k.licensee_id = l.id AND k.kind = 'live'"
            )
        )
        (count,) = conn.execute(text("SELECT count(*) FROM bench_lic")).one()
        conn.execute(text("CREATE INDEX ON bench_lic (n)"))
        reasons = "ARRAY[" + ",".join(f"'{r}'" for r in REASONS) + "]"
        for lo in range(0, conversations, BATCH):
            hi = min(lo + BATCH, conversations) - 1
            began = time.perf_counter()
            args = {"lo": lo, "hi": hi, "count": count, "start": start, "step": step}
            conn.execute(
                text(
                    "INSERT INTO conversations (id, licensee_id, visitor_id, key_id, test,"
                    " beyond_term, started_at, last_activity_at, ended_at, end_reason, last_seq)"
                    " SELECT 'conv_b' || lpad(i::text, 9, '0'), l.id, 'vis_b' || (i % 100000),"
                    " l.key, i % 50 = 0, false, :start + make_interval(secs => i * :step),"
                    " :start + make_interval(secs => i * :step + 60),"
                    f" :start + make_interval(secs => i * :step + 600), ({reasons})[1 + i % 6], 4"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                ),
                args,
            )
            conn.execute(
                text(
                    "INSERT INTO ratings (conversation_id, licensee_id, score, comment, created_at)"
                    " SELECT 'conv_b' || lpad(i::text, 9, '0'), l.id, 1 + (i / 20) % 5, NULL,"
                    " :start + make_interval(secs => i * :step + 700)"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                    " WHERE i % 20 = 3"
                ),
                args,
            )
            print(f"  rows {lo:,}..{hi:,}: {time.perf_counter() - began:.1f} s", flush=True)
        began = time.perf_counter()
        for index in indexes:
            index.create(conn)
        print(f"  indexes built in {time.perf_counter() - began:.1f} s ({load_average()})")
        conn.execute(text("ANALYZE conversations"))
        conn.execute(text("ANALYZE ratings"))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm the cache the way a second visitor of the page finds it
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return pct(samples, 0.5), pct(samples, 0.95)


def measure(db: Database, lic: str, runs: int) -> None:
    def search(**kw: object) -> Callable[[], tr.ConversationPage]:
        return lambda: db.read(lambda s: tr.search_conversations(s, tr.Search(**kw)))  # type: ignore[arg-type]

    deep = None
    page = search(licensee_id=lic)()
    for _ in range(40):  # 40 pages of 50 in: 2,000 conversations deep
        if page.next is None:
            break
        deep = page.next
        page = search(licensee_id=lic, after=deep)()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("licensee, newest page", search(licensee_id=lic)),
        ("licensee, page 41 (keyset)", search(licensee_id=lic, after=deep)),
        (
            "licensee, one month",
            search(licensee_id=lic, start=date(2026, 6, 1), end=date(2026, 6, 30)),
        ),
        ("licensee, end reason agent", search(licensee_id=lic, end_reason=EndReason.AGENT)),
        ("licensee, rating <= 2", search(licensee_id=lic, max_rating=2)),
        (
            "licensee, rating 5 in a month",
            search(licensee_id=lic, min_rating=5, start=date(2026, 6, 1), end=date(2026, 6, 30)),
        ),
        ("all licensees, newest page", search()),
        ("all licensees, one day", search(start=date(2026, 6, 1), end=date(2026, 6, 1))),
        ("all licensees, rating <= 2", search(max_rating=2)),
    ]
    print(f"\n{'search':40} {'p50 ms':>8} {'p95 ms':>8}   ({runs} runs each, {load_average()})")
    for name, fn in cases:
        p50, p95 = timed(fn, runs)
        print(f"{name:40} {p50:8.1f} {p95:8.1f}")
    # A/B: a licensee's low-rated conversations through its ratings, or probed one by one.
    by_ratings = text(
        "SELECT c.id FROM conversations c WHERE c.licensee_id = :lic AND c.id IN"
        " (SELECT conversation_id FROM ratings WHERE licensee_id = :lic AND score <= 2)"
        " ORDER BY c.started_at DESC, c.id DESC LIMIT 51"
    )
    probed = text(
        "SELECT c.id FROM conversations c WHERE c.licensee_id = :lic AND EXISTS"
        " (SELECT 1 FROM ratings r WHERE r.conversation_id = c.id AND r.score <= 2)"
        " ORDER BY c.started_at DESC, c.id DESC LIMIT 51"
    )
    for name, sql in (
        ("rating <= 2 via ratings, A/B", by_ratings),
        ("rating <= 2 by EXISTS, A/B", probed),
    ):

        def run(sql: Any = sql) -> object:
            return db.read(lambda s: s.execute(sql, {"lic": lic}).all())

        p50, p95 = timed(run, runs)
        print(f"{'licensee, ' + name:40} {p50:8.1f} {p95:8.1f}")
    # A/B: the same deep page by OFFSET, as a page-number pager would read it.
    offset_sql = text(
        "SELECT id FROM conversations WHERE licensee_id = :lic"
        " ORDER BY started_at DESC, id DESC LIMIT 51 OFFSET 2000"
    )
    p50, p95 = timed(lambda: db.read(lambda s: s.execute(offset_sql, {"lic": lic}).all()), runs)
    print(f"{'licensee, page 41 (OFFSET 2000), A/B':40} {p50:8.1f} {p95:8.1f}")
    offset_all = text(
        "SELECT id FROM conversations ORDER BY started_at DESC, id DESC LIMIT 51 OFFSET 200000"
    )
    p50, p95 = timed(lambda: db.read(lambda s: s.execute(offset_all).all()), max(3, runs // 10))
    print(f"{'all, page 4,001 (OFFSET 200,000), A/B':40} {p50:8.1f} {p95:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000_000)
    parser.add_argument("--licensees", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with postgres_schema() as url:
        db = Database(url)
        try:
            db.migrate()
            ids = licensees(db, args.licensees)
            began = time.perf_counter()
            generate(db, args.conversations)
            print(
                f"{args.conversations:,} conversations of {args.licensees:,} licensees:"
                f" {time.perf_counter() - began:.0f} s",
                flush=True,
            )
            measure(db, ids[len(ids) // 2], args.runs)
        finally:
            db.close()


if __name__ == "__main__":
    main()
