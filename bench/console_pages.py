"""Console pages at scale: 1,000 licensees and 10,000,000 conversations in PostgreSQL, then
every console page (GET under /admin, all areas) requested signed in as the owner; p50/p95 per
page against the target p95 <= 100 ms.

Rows are generated in the database with generate_series (conversations over a year, a question
and an answer for one conversation in ``--messages-every``, ratings, model calls), statements are
drafted for the last month by the real billing code and one is issued; the reports' daily figures
are built by the real ``rebuild`` (timed). The server is ``kefu serve`` on that schema, one
process; the client is httpx on one connection, one request at a time.

    python bench/console_pages.py                      # the full size (about 15 minutes)
    python bench/console_pages.py --conversations 200000
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, load_average, pct, start_server, stop_server

from core.billing.issued import issue_month, save_draft
from core.db.engine import Database
from core.licensing.licensees import create_licensee
from core.reporting.daily import refresh
from testkit.databases import PG_URL, postgres_schema
from testkit.tenants import ORIGIN

KEFU = Path(sys.executable).parent / "kefu"
FIRST_DAY = date(2025, 12, 1)  # a year of traffic, up to the end of November 2026
DAYS = 365
NOW = datetime(2026, 12, 1, 4, tzinfo=UTC)  # 12:00 on 1 December in Shanghai
MONTH = "2026-11"
BATCH = 1_000_000
OWNER, PASSWORD = "owner@bench.example", "bench-console-pages"


def licensees(db: Database, n: int) -> list[str]:
    ids = []
    with db.session() as session:
        for i in range(n):
            lic, _ = create_licensee(
                session,
                name=f"商户 Shop {i:04d}",
                origins=[ORIGIN],
                now=datetime(2025, 11, 1, tzinfo=UTC),
                start=date(2025, 11, 1),
                end=date(2027, 10, 31),
                unit_price=Decimal("0.50"),
                timezone="Asia/Shanghai" if i % 10 else "Europe/Berlin",
                allow_duplicate_name=True,
            )
            ids.append(lic.id)
        session.commit()
    return ids


def generate(db: Database, conversations: int, every: int) -> None:
    """Conversations spread evenly over ``DAYS`` days and all licensees, one in 50 a test;
    for one in ``every`` a question and its answer (one in 7 answers "don't know"), for one in
    20 a rating (of every licensee, every score), for one in 10 a model call."""
    start = datetime.combine(FIRST_DAY, datetime.min.time(), UTC) - timedelta(hours=8)
    step = DAYS * 86400 / conversations
    with db.write_engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE bench_lic AS SELECT l.id, k.id AS key,"
                " row_number() OVER (ORDER BY l.id) - 1 AS n FROM licensees l"
                " JOIN api_keys k ON k.licensee_id = l.id AND k.kind = 'live'"
            )
        )
        (count,) = conn.execute(text("SELECT count(*) FROM bench_lic")).one()
        conn.execute(text("CREATE INDEX ON bench_lic (n)"))
        for lo in range(0, conversations, BATCH):
            hi = min(lo + BATCH, conversations) - 1
            began = time.perf_counter()
            args = {"lo": lo, "hi": hi, "count": count, "start": start, "step": step}
            conn.execute(
                text(
                    "INSERT INTO conversations (id, licensee_id, visitor_id, key_id, test,"
                    " beyond_term, started_at, last_activity_at, ended_at, end_reason, last_seq)"
                    " SELECT 'conv_b' || i, l.id, 'vis_b' || (i % 100000), l.key, i % 50 = 0,"
                    " false, :start + make_interval(secs => i * :step),"
                    " :start + make_interval(secs => i * :step + 60),"
                    " :start + make_interval(secs => i * :step + 600), 'idle',"
                    " CASE WHEN i % :every = 0 THEN 2 ELSE 0 END"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                ).bindparams(every=every),
                args,
            )
            conn.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, licensee_id, visitor_id, seq,"
                    " role, text, client_id, created_at, ai, sources, resolved)"
                    " SELECT 'msg_q' || i, 'conv_b' || i, l.id, 'vis_b' || (i % 100000), 1,"
                    " 'visitor', '请问退货要多久？ How long does a refund take?', 'c' || i,"
                    " :start + make_interval(secs => i * :step), NULL, NULL, NULL"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                    " WHERE i % :every = 0"
                    " UNION ALL"
                    " SELECT 'msg_a' || i, 'conv_b' || i, l.id, 'vis_b' || (i % 100000), 2,"
                    " 'robot', '收到退货后 3 个工作日内退款。Refunds take 3 working days.', NULL,"
                    " :start + make_interval(secs => i * :step + 0.3 + (i % 40) * 0.05),"
                    ' \'{"label": "AI", "producer": "kefu", "model": "kefu-kb-1",'
                    ' "content_id": "x"}\'::json,'
                    " CASE WHEN i % 7 = 0 THEN '[]'::json"
                    ' ELSE \'[{"id": "kb_1", "question": "退货"}]\'::json END,'
                    " i % 7 <> 0"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                    " WHERE i % :every = 0"
                ).bindparams(every=every),
                args,
            )
            conn.execute(
                text(
                    "INSERT INTO ratings (conversation_id, licensee_id, score, comment, created_at)"
                    " SELECT 'conv_b' || i, l.id, 1 + (i / 20000) % 5, NULL,"
                    " :start + make_interval(secs => i * :step + 700)"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                    " WHERE (i / :count) % 20 = 3"
                ),
                args,
            )
            conn.execute(
                text(
                    "INSERT INTO model_calls (id, licensee_id, conversation_id, reply_id,"
                    " provider, model, input_tokens, output_tokens, cache_hit_tokens,"
                    " latency_ms, first_token_ms, outcome, cost, currency, created_at)"
                    " SELECT 'call_b' || i, l.id, 'conv_b' || i, NULL, 'deepseek',"
                    " 'deepseek-chat', 800, 120, 0, 900, 300, 'ok', '0.0012', 'CNY',"
                    " :start + make_interval(secs => i * :step + 1)"
                    " FROM generate_series(:lo, :hi) AS i JOIN bench_lic l ON l.n = i % :count"
                    " WHERE i % 10 = 5"
                ),
                args,
            )
            print(
                f"  rows {lo:,}..{hi:,}: {time.perf_counter() - began:.1f} s ({load_average()})",
                flush=True,
            )
        # This schema's tables only: a database-wide ANALYZE would lock other schemas' tables.
        conn.execute(text("ANALYZE licensees, conversations, messages, ratings, model_calls"))


def statements(db: Database, ids: list[str]) -> None:
    """The month's drafts for every licensee (what the billing job saves), and one issued."""
    with db.session() as session:
        for lic in ids:
            save_draft(session, session.get_one(_licensee_model(), lic), MONTH, NOW)
        session.commit()
    with db.session() as session:
        issue_month(session, ids[0], "2026-10", NOW)
        session.commit()


def _licensee_model() -> Any:
    from core.db.tables import Licensee

    return Licensee


# Sample values for the path parameters of the console's pages, looked up in the data.
SAMPLES = {
    "licensee_id": "SELECT id FROM licensees ORDER BY id OFFSET 500 LIMIT 1",
    "conversation_id": "SELECT id FROM conversations WHERE last_seq > 0 AND licensee_id ="
    " (SELECT id FROM licensees ORDER BY id OFFSET 500 LIMIT 1) ORDER BY started_at DESC LIMIT 1",
    "entry_id": "SELECT id FROM kb_entries ORDER BY id LIMIT 1",
    "user_id": "SELECT id FROM users ORDER BY id LIMIT 1",
    "outage_id": "SELECT id FROM outages ORDER BY id LIMIT 1",
    "window_id": "SELECT id FROM maintenance_windows ORDER BY id LIMIT 1",
}
FIXED = {"month": MONTH, "which": MONTH}
SKIP = re.compile(r"/(download|export)|\.(csv|json|md|xlsx|pdf)$|/logout$|/static/|/assets/")


def page_paths(url: str) -> tuple[list[str], list[str], dict[str, str]]:
    """Every GET page of the console (each area's router), its parameters filled in; and the
    ones left out (files, or a parameter with no sample)."""
    import importlib
    import pkgutil

    from fastapi.routing import APIRoute

    import admin.pages

    engine = create_engine(url)
    values = dict(FIXED)
    with engine.connect() as conn:
        for name, query in SAMPLES.items():
            try:
                found = conn.execute(text(query)).scalar()
            except Exception:
                conn.rollback()
                found = None
            if found is not None:
                values[name] = str(found)
    engine.dispose()
    paths, skipped = [], []
    for info in sorted(pkgutil.iter_modules(admin.pages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"admin.pages.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if not isinstance(route, APIRoute) or "GET" not in (route.methods or set()):
                continue
            if SKIP.search(route.path) or route.path in ("/admin/login",):
                skipped.append(route.path)
                continue
            names = re.findall(r"{(\w+)(?::[^}]*)?}", route.path)
            if any(n not in values for n in names):
                skipped.append(route.path)
                continue
            paths.append(re.sub(r"{(\w+)(?::[^}]*)?}", lambda m: values[m[1]], route.path))
    return paths, skipped, values


def sign_in(client: httpx.Client, email: str) -> None:
    form = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    assert token, "no sign-in form"
    done = client.post(
        "/admin/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token[1], "next": ""},
    )
    assert done.status_code == 303, (done.status_code, done.text[:300])


def searches(values: dict[str, str]) -> list[str]:
    """The pages again with the searches and filters a person uses (name, id, status; a
    licensee's conversations by dates, end reason and rating; every licensee's by rating and
    day; knowledge-base and audit searches; a statement month searched; a year of reports)."""
    lic = values.get("licensee_id", "")
    month = "start=2026-06-01&end=2026-06-30"
    return [
        "/admin/licensees?q=shop+99",
        "/admin/licensees?q=%E5%95%86%E6%88%B7+shop+09",
        f"/admin/licensees?q={lic}",
        "/admin/licensees?status=suspended",
        "/admin/licensees?page=20",
        f"/admin/conversations?licensee={lic}",
        f"/admin/conversations?licensee={lic}&{month}",
        f"/admin/conversations?licensee={lic}&reason=idle",
        f"/admin/conversations?licensee={lic}&rating=low",
        f"/admin/conversations?licensee={lic}&rating=5&{month}",
        "/admin/conversations?rating=low",
        f"/admin/conversations?rating=high&{month}",
        "/admin/conversations?start=2026-06-01&end=2026-06-01",
        "/admin/conversations?reason=idle",
        f"/admin/kb/{lic}?q=%E9%80%80%E8%B4%A7",
        f"/admin/kb/{lic}?page=3",
        f"/admin/kb/{lic}/hit-test?q=%E9%80%80%E8%B4%A7%E8%A6%81%E5%A4%9A%E4%B9%85",
        "/admin/kb?q=shop",
        "/admin/audit?action=licensee.",
        f"/admin/audit?licensee={lic}",
        "/admin/statements?month=2026-11&q=shop+09",
        "/admin/statements?month=2026-11&page=5",
        "/admin/reports?from=2025-12-01&to=2026-11-30",
        f"/admin/reports/{lic}?from=2025-12-01&to=2026-11-30",
    ]


def deep_pages(client: httpx.Client, lic: str, pages: int = 40) -> list[str]:
    """Conversation search pages ``pages`` deep (the cursor of the page before), one licensee's
    and every licensee's."""
    found = []
    for start in (f"/admin/conversations?licensee={lic}", "/admin/conversations"):
        path = start
        for _ in range(pages):
            link = r'href="(/admin/conversations\?[^"]*after=[^"]+)"'
            more = re.search(link, client.get(path).text)
            if more is None:
                break
            path = more[1].replace("&amp;", "&")
        found.append(path)
    return found


def knowledge_base(url: str, entries: int = 300) -> None:
    """A knowledge base of ``entries`` for the sample licensee (once)."""
    from sqlmodel import Session

    from core.knowledge.entries import KbRow
    from core.knowledge.store import import_rows

    engine = create_engine(url)
    with Session(engine) as session:
        if session.execute(text("SELECT count(*) FROM kb_entries")).scalar():
            return
        licensee_id = str(session.execute(text(SAMPLES["licensee_id"])).scalar())
        rows = [
            KbRow(f"问题 {i}：退货要多久？", f"回答 {i}：收到退货后 3 个工作日内退款。")
            for i in range(entries)
        ]
        import_rows(session, licensee_id, rows, NOW)
        session.commit()
    engine.dispose()


def cache_ab(url: str, rounds: int = 20) -> None:
    """The licensor's month over every licensee: added up from the daily figures each time (A)
    or kept until the figures change (B, what the page does), in this process."""
    from sqlmodel import Session

    from core.reporting.figures import cached_report, report

    engine = create_engine(url)
    now = datetime.now(UTC)
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    with Session(engine) as session:
        added, cached = [], []
        for _ in range(rounds):
            began = time.perf_counter()
            report(session, first, last, now, availability=False)
            added.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            cached_report(session, first, last, now)
            cached.append((time.perf_counter() - began) * 1000)
    engine.dispose()
    print(
        f"licensor's month of every licensee: added up each time p50 {pct(added, 0.5):.1f} ms"
        f" p95 {pct(added, 0.95):.1f} ms; cached p50 {pct(cached, 0.5):.2f} ms"
        f" p95 {pct(cached, 0.95):.2f} ms ({load_average()})",
        flush=True,
    )


# Who requests the pages: the licensor's owner, a licensee's admin (the portal) and one of its
# agents (the agent console); each measures the pages it may open (status 200).
PEOPLE = (
    ("owner", OWNER, ["admin", "create"]),
    ("licensee admin", "admin@bench.example", ["user", "create", "--role", "admin"]),
    ("agent", "agent@bench.example", ["user", "create", "--role", "agent", "--name", "Agent"]),
)


def people(url: str, env: dict[str, str], licensee_id: str) -> None:
    """Fresh users for this run (the password is the bench's own)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for _, email, _ in PEOPLE:
            for sql in (
                "DELETE FROM user_sessions WHERE user_id IN"
                " (SELECT id FROM users WHERE email = :e)",
                "DELETE FROM access_tokens WHERE created_by IN"
                " (SELECT id FROM users WHERE email = :e)",
                "DELETE FROM users WHERE email = :e",
            ):
                conn.execute(text(sql), {"e": email})
    engine.dispose()
    for _, email, how in PEOPLE:
        scope = [] if how[0] == "admin" else ["--licensee", licensee_id]
        subprocess.run(
            [str(KEFU), *how, *scope, "--email", email, "--password", PASSWORD],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )


def home_ab(url: str, rounds: int = 20) -> None:
    """This month's figures at the end of a month of 830,000 conversations (30 November):
    counted from the conversations (A, what the pages did) or read from the daily figures
    (B, ``month_to_date``), for every licensee (the licensor's overview) and for one (a
    licensee's overview), in this process."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from core.db.tables import Conversation, table_of
    from core.reporting.month_to_date import every_licensee, month_to_date

    c = table_of(Conversation).c
    engine = create_engine(url)
    now = datetime(2026, 11, 30, 4, tzinfo=UTC)  # 12:00 on the 30th in Shanghai
    start = datetime(2026, 10, 31, 16, tzinfo=UTC)
    with Session(engine) as session:
        lic = str(session.execute(text(SAMPLES["licensee_id"])).scalar())

        def counted(ids: list[str] | None) -> object:
            query = select(c.licensee_id, func.count()).where(
                c.started_at >= start, c.started_at < now, c.test.is_(False)
            )
            if ids is not None:
                query = query.where(c.licensee_id.in_(ids))
            return session.execute(query.group_by(c.licensee_id)).all()

        for label, ids in (("every licensee", None), ("one licensee", [lic])):
            timed: dict[str, list[float]] = {"rows": [], "figures": []}
            for _ in range(rounds):
                began = time.perf_counter()
                counted(ids)
                timed["rows"].append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                if ids is None:
                    every_licensee(session, now)  # the licensor's overview: one sum
                else:
                    month_to_date(session, now, ids)
                timed["figures"].append((time.perf_counter() - began) * 1000)
            print(
                f"this month's figures of {label} on 30 November:"
                + "".join(
                    f" {how} p50 {pct(t, 0.5):.1f} ms p95 {pct(t, 0.95):.1f} ms;"
                    for how, t in timed.items()
                )
                + f" ({load_average()})",
                flush=True,
            )
    engine.dispose()


def measure(url: str, requests: int, only: str = "") -> None:
    env = dict(os.environ)
    env.update(
        {
            "KEFU_DATABASE_URL": url,
            "KEFU_SECRET_KEY": secrets.token_urlsafe(40),
            "KEFU_LOG_LEVEL": "WARNING",
        }
    )
    db = Database(url)
    try:
        db.migrate()  # a kept schema gets the newest migrations
        with db.session() as session:  # the figures hold today, as the leader keeps them
            refresh(session, datetime.now(UTC))
            session.commit()
    finally:
        db.close()
    cache_ab(url)
    home_ab(url)
    knowledge_base(url)
    paths, skipped, values = page_paths(url)
    lic = values["licensee_id"]
    people(url, env, lic)
    port = free_port()
    server = start_server(env, port, kefu=KEFU)
    results: list[tuple[str, str, float, float]] = []
    refused: dict[str, list[str]] = {}
    try:
        for who, email, _ in PEOPLE:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                sign_in(client, email)
                mine = paths + searches(values) + deep_pages(client, lic)
                for path in [p for p in mine if only in p]:
                    first = client.get(path)  # a warm-up, and whether this person may see it
                    if first.status_code != 200:
                        refused.setdefault(who, []).append(f"{path} ({first.status_code})")
                        continue
                    times = []
                    for i in range(requests + 1):
                        began = time.perf_counter()
                        got = client.get(path)
                        spent = (time.perf_counter() - began) * 1000
                        assert got.status_code == 200, (path, got.status_code)
                        if i >= 1:  # a second warm-up request
                            times.append(spent)
                    results.append((who, path, pct(times, 0.5), pct(times, 0.95)))
                    print(
                        f"  {who:<15} {path[:90]:<90} p50 {pct(times, 0.5):7.1f} ms"
                        f"  p95 {pct(times, 0.95):7.1f} ms",
                        flush=True,
                    )
    finally:
        stop_server(server)
    for who, pages in refused.items():
        print(f"not for the {who} (status): {', '.join(pages)}")
    print(f"pages measured: {len(results)}; left out: {', '.join(skipped) or 'none'}")
    worst = max(results, key=lambda r: r[3], default=("", "", 0.0, 0.0))
    verdict = "PASS" if worst[3] <= 100 else "FAIL"
    print(
        f"slowest page p95 {worst[3]:.1f} ms ({worst[0]} {worst[1]}; target <= 100 ms)"
        f" {verdict} ({load_average()})"
    )


def build(url: str, n_licensees: int, conversations: int, every: int) -> list[str]:
    db = Database(url)
    try:
        db.migrate()
        began = time.perf_counter()
        ids = licensees(db, n_licensees)
        print(f"{n_licensees:,} licensees: {time.perf_counter() - began:.1f} s", flush=True)
        began = time.perf_counter()
        generate(db, conversations, every)
        print(
            f"{conversations:,} conversations generated: {time.perf_counter() - began:.1f} s"
            f" ({load_average()})",
            flush=True,
        )
        began = time.perf_counter()
        statements(db, ids)
        print(f"drafts of {MONTH} and one issued statement: {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        with db.session() as session:
            stored = refresh(session, NOW)  # the first refresh is a whole rebuild
            session.commit()
        print(
            f"daily figures rebuilt from the rows: {stored:,} licensee-days in"
            f" {time.perf_counter() - began:.1f} s ({load_average()})",
            flush=True,
        )
        return ids
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--licensees", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=10_000_000)
    parser.add_argument("--messages-every", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="requests per page")
    parser.add_argument("--only", default="", help="measure only the pages whose path has this")
    parser.add_argument(
        "--schema",
        help="keep the data in this PostgreSQL schema (built if missing, reused if there)",
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {load_average()}", flush=True)
    if args.schema:
        url = kept_schema(args.schema)
        if not built(url):
            build(url, args.licensees, args.conversations, args.messages_every)
        measure(url, args.requests, args.only)
        return
    with postgres_schema() as url:
        build(url, args.licensees, args.conversations, args.messages_every)
        measure(url, args.requests, args.only)


def kept_schema(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", name):
        raise SystemExit("--schema: lower-case letters, digits and _")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{name}"'))
    admin.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{name}"


def built(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT to_regclass('reporting_marks') IS NOT NULL")).scalar()
                and conn.execute(text("SELECT count(*) FROM reporting_marks")).scalar()
            )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
