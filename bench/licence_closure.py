"""What closing a lapsed licence costs: writing its export archive and purging its data.

Seeds one lapsed licensee (conversations with messages, a knowledge base) beside another that
stays, at two sizes, then times ``write_archive`` alone and the whole closing pass (revoke,
archive, purge), and measures the archive's peak Python memory (tracemalloc, in a separate run
so that it does not slow the timed one). The peak should not grow with the rows: they are
streamed into the zip.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from core.db.engine import Database
from core.db.tables import Conversation, KeyKind, Licensee, Message, table_of
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows
from core.licensing.archive import write_archive
from core.licensing.closure import run_due
from core.licensing.licensees import create_licensee
from testkit.databases import postgres_schema
from testkit.tenants import ORIGIN, key_id

STARTED = datetime(2025, 6, 1, tzinfo=UTC)
LAPSED = datetime(2026, 6, 1, tzinfo=UTC)


def seed(db: Database, name: str, conversations: int, per: int, end: date) -> str:
    with db.session() as session:
        licensee, _keys = create_licensee(
            session, name=name, origins=[ORIGIN], now=STARTED, start=date(2025, 1, 1), end=end
        )
        rows = [KbRow(f"问题 {i}", f"答案 {i} answer", (f"相似 {i}",)) for i in range(500)]
        import_rows(session, licensee.id, rows, STARTED)
        session.commit()
    lic, key = licensee.id, key_id(db, licensee.id, KeyKind.LIVE)
    conv, msg = table_of(Conversation), table_of(Message)
    ai = {"label": "AI-generated", "producer": "kefu", "model": "m", "content_id": "x"}
    batch = 2000
    with db.write_engine.begin() as conn:
        for first in range(0, conversations, batch):
            ids = range(first, min(first + batch, conversations))
            at = [STARTED + timedelta(seconds=i) for i in ids]
            conn.execute(
                insert(conv),
                [
                    {"id": f"c{lic[-8:]}{i}", "licensee_id": lic, "visitor_id": f"v{i}",
                     "key_id": key, "test": False, "beyond_term": False, "started_at": t,
                     "last_activity_at": t, "ended_at": t + timedelta(minutes=5),
                     "end_reason": "idle", "last_seq": per}
                    for i, t in zip(ids, at, strict=True)
                ],
            )  # fmt: skip
            conn.execute(
                insert(msg),
                [
                    {"id": f"m{lic[-8:]}{i}-{s}", "conversation_id": f"c{lic[-8:]}{i}",
                     "licensee_id": lic, "visitor_id": f"v{i}", "seq": s,
                     "role": "visitor" if s % 2 else "robot",
                     "text": "请问退货要几天？How long does a return take?" * 2,
                     "client_id": f"k{s}" if s % 2 else None, "created_at": t,
                     "ai": None if s % 2 else ai, "sources": None if s % 2 else []}
                    for i, t in zip(ids, at, strict=True)
                    for s in range(1, per + 1)
                ],
            )  # fmt: skip
    return lic


def measure(url: str, conversations: int, per: int, out: Path) -> dict[str, Any]:
    db = Database(url, sqlite_synchronous="NORMAL")
    db.migrate()
    lapsed = seed(db, "Lapsed", conversations, per, date(2025, 12, 31))
    seed(db, "Stays", conversations // 10, per, date(2030, 12, 31))
    with db.read_session() as session:
        licensee = session.get(Licensee, lapsed)
        assert licensee is not None
        began = time.perf_counter()
        written = write_archive(session, licensee, licensee.service_end, out, LAPSED)
        archive_s = time.perf_counter() - began
        tracemalloc.start()
        write_archive(session, licensee, licensee.service_end, out, LAPSED)
        _now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    began = time.perf_counter()
    run = run_due(db, out, "bench", LAPSED)
    close_s = time.perf_counter() - began
    assert run.purged == [lapsed], run
    db.close()
    return {
        "conversations": conversations,
        "messages": conversations * per,
        "archive_bytes": written.size,
        "archive_s": round(archive_s, 2),
        "archive_peak_mib": round(peak / 2**20, 1),
        "revoke_archive_purge_s": round(close_s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--postgres", action="store_true", help="a fresh schema of the test PostgreSQL server"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            url = (
                stack.enter_context(postgres_schema())
                if args.postgres
                else f"sqlite:///{tmp}/closure.db"
            )
            results.append(measure(url, size, args.messages_per_conversation, Path(tmp) / "a"))
    report = {
        "database": "postgresql" if args.postgres else "sqlite",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": results,
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
