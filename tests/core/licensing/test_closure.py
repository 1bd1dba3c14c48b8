"""Closing a lapsed licence: revoked the day after a month past its end, archived, then purged;
crash-safe, one process of several does it, another licensee untouched. Both databases."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlmodel
from sqlalchemy import func, select
from sqlmodel import Session

from core.chat import conversations as units
from core.chat.conversations import Speaker, UnitPolicy
from core.chat.frames import EndReason
from core.db.engine import Database
from core.db.tables import (
    ContentBlock,
    Conversation,
    EndUser,
    KbEntryRecord,
    KeyKind,
    LicenceClosure,
    LicenceStatus,
    Licensee,
    Message,
    ModelCall,
    Rating,
    table_of,
)
from core.errors import AuthError, Conflict
from core.knowledge.entries import KbRow
from core.knowledge.files import read_kb_bytes
from core.knowledge.store import import_rows
from core.licensing import closure
from core.licensing.archive import write_archive
from core.licensing.closure import LEASE, run_due
from core.licensing.licensees import authenticate_key
from core.licensing.renewal import renew
from core.licensing.suspension import resume
from testkit.tenants import MakeTenant, Tenant, key_id

SHANGHAI = timedelta(hours=8)
END = date(2026, 1, 31)  # a month later is 2026-02-28: beyond term through it, revoked 03-01
IN_TERM = datetime(2026, 1, 20, 2, 0, tzinfo=UTC)
LAST_BEYOND = datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC) - SHANGHAI  # 23:59:59 in Shanghai
FIRST_LAPSED = datetime(2026, 3, 1, tzinfo=UTC) - SHANGHAI  # midnight in Shanghai


def shop(make_tenant: MakeTenant, name: str = "Shop") -> Tenant:
    return make_tenant(name, now=IN_TERM, start=date(2025, 2, 1), end=END)


def fill(db: Database, tenant: Tenant, visitors: int = 3) -> None:
    """Conversations with messages (robot answers with their AI label), a rating, an identified
    end user, a content-filter record and a knowledge base."""
    lic = tenant.licensee.id
    live = key_id(db, lic, KeyKind.LIVE)

    def chat(conn: Session, visitor: str, at: datetime) -> None:
        who = Speaker(lic, visitor, live, False, False, UnitPolicy())
        rec = units.record_visitor_message(conn, who, f"c-{visitor}", f"你好 {visitor} =1+1", at)
        assert isinstance(rec, units.Recorded)
        units.record_reply(
            conn,
            conversation_id=rec.conversation.id,
            licensee_id=lic,
            visitor_id=visitor,
            message_id=f"m-{lic[-6:]}-{visitor}",
            text="您好，有什么可以帮您？",
            ai={"label": "AI-generated", "producer": "kefu", "model": "m", "content_id": "x"},
            sources=[],
            now=at,
        )

    for i in range(visitors):
        db.writer.run(partial(chat, visitor=f"v{i}", at=IN_TERM + timedelta(minutes=i)))
    with db.session() as session:
        units.end_open(session, lic, "v0", EndReason.CLOSED, IN_TERM + timedelta(hours=1))
        units.record_rating(session, lic, "v0", 5, "很好", IN_TERM + timedelta(hours=1))
        session.add(EndUser(licensee_id=lic, visitor_id="v1", user_id="u-1", first_seen_at=IN_TERM))
        session.add(
            ContentBlock(
                licensee_id=lic,
                direction="question",
                term="x",
                producer="p",
                model="m",
                created_at=IN_TERM,
            )
        )
        import_rows(session, lic, [KbRow("退货政策", "七天无理由退货", ("怎么退货",))], IN_TERM)
        session.commit()


def counts(db: Database, licensee_id: str) -> dict[str, int]:
    def count(session: Session, model: Any) -> int:
        table = model.__table__
        query = select(func.count()).select_from(table).where(table.c.licensee_id == licensee_id)
        return int(session.execute(query).scalar_one())

    models = {
        "conversations": Conversation, "messages": Message, "ratings": Rating,
        "end_users": EndUser, "kb": KbEntryRecord, "blocks": ContentBlock,
    }  # fmt: skip
    with db.read_session() as session:
        return {name: count(session, model) for name, model in models.items()}


def status(db: Database, licensee_id: str) -> str:
    with db.read_session() as session:
        licensee = session.get(Licensee, licensee_id)
        assert licensee is not None
        return licensee.status


def closures(db: Database) -> list[LicenceClosure]:
    with db.read_session() as session:
        return list(session.exec(sqlmodel.select(LicenceClosure)))


def test_the_day_a_month_after_the_end_is_beyond_term_and_the_next_day_revokes(
    db: Database, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    a = shop(make_tenant)
    assert run_due(db, tmp_path, "w", LAST_BEYOND).revoked == []
    assert status(db, a.licensee.id) == LicenceStatus.ACTIVE
    with db.read_session() as session:  # its keys still work on the last day
        authenticate_key(session, a.keys.site_key, {KeyKind.LIVE})
    run = run_due(db, tmp_path, "w", FIRST_LAPSED)
    assert run.revoked == run.archived == run.purged == [a.licensee.id]
    assert status(db, a.licensee.id) == LicenceStatus.REVOKED


def test_revocation_refuses_keys_ends_units_archives_then_purges_only_that_licensee(
    db: Database, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    a, b = shop(make_tenant, "Shop"), make_tenant("Other", now=IN_TERM, end=date(2027, 1, 31))
    fill(db, a)
    fill(db, b)
    with db.session() as session:  # a model call of the licensor's own costs: a billing record
        session.add(
            ModelCall(
                id="call_1",
                licensee_id=a.licensee.id,
                conversation_id="x",
                provider="p",
                model="m",
                input_tokens=1,
                output_tokens=1,
                cache_hit_tokens=0,
                latency_ms=1,
                outcome="ok",
                cost=Decimal("0.01"),
                created_at=IN_TERM,
            )
        )
        session.commit()
    before_b = counts(db, b.licensee.id)
    assert counts(db, a.licensee.id) == {
        "conversations": 3, "messages": 6, "ratings": 1, "end_users": 1, "kb": 1, "blocks": 1,
    }  # fmt: skip
    run = run_due(db, tmp_path, "w", FIRST_LAPSED)
    assert run.revoked == [a.licensee.id]
    assert sorted(e.visitor_id for e in run.endings) == ["v1", "v2"]  # the open ones ended

    for token in (a.keys.site_key, a.keys.test_site_key, a.keys.secret_key):
        with db.read_session() as session, pytest.raises(AuthError):
            authenticate_key(session, token, set(KeyKind))
    with db.read_session() as session:  # the other licensee's keys work
        authenticate_key(session, b.keys.site_key, {KeyKind.LIVE})

    # Purged: content gone, the conversation rows' billing fields kept.
    assert counts(db, a.licensee.id) == {
        "conversations": 3, "messages": 0, "ratings": 0, "end_users": 0, "kb": 0, "blocks": 0,
    }  # fmt: skip
    with db.read_session() as session:
        rows = list(
            session.exec(
                sqlmodel.select(Conversation).where(Conversation.licensee_id == a.licensee.id)
            )
        )
        assert all(r.visitor_id == "" and r.ended_at is not None and r.end_reason for r in rows)
        assert {r.started_at for r in rows} == {IN_TERM + timedelta(minutes=i) for i in range(3)}
        assert session.get(ModelCall, "call_1") is not None
    assert counts(db, b.licensee.id) == before_b  # another licensee untouched
    assert status(db, b.licensee.id) == LicenceStatus.ACTIVE

    # The archive holds everything that was purged.
    [row] = closures(db)
    assert row.archive_name is not None and row.purged_at == FIRST_LAPSED
    path = tmp_path / row.archive_name
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["counts"] == {
            "conversations": 3, "messages": 6, "ratings": 1, "end_users": 1, "knowledge_base": 1,
        }  # fmt: skip
        text = zf.read("messages.csv").decode("utf-8")
        assert text.startswith("\ufeff")
        messages = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert {m["text"] for m in messages if m["role"] == "visitor"} == {
            "你好 v0 =1+1", "你好 v1 =1+1", "你好 v2 =1+1",
        }  # fmt: skip
        assert {m["ai_label"] for m in messages if m["role"] == "robot"} == {"AI-generated"}
        lines = zf.read("messages.jsonl").decode("utf-8").splitlines()
        assert len(lines) == 6 and all(json.loads(line)["conversation_id"] for line in lines)
        conversations = list(csv.DictReader(io.StringIO(zf.read("conversations.csv").decode()[1:])))
        assert {c["user_id"] for c in conversations} == {"", "u-1"}
        kb = read_kb_bytes(zf.read("knowledge_base.json"), "json")
        assert [r.row.question for r in kb.rows] == ["退货政策"]
        assert "七天无理由退货" in zf.read("knowledge_base.csv").decode("utf-8")
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == row.archive_sha256
    assert not list(tmp_path.glob("*.partial"))


def test_a_second_run_does_nothing_twice(
    db: Database, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    a = shop(make_tenant)
    fill(db, a)
    run_due(db, tmp_path, "w", FIRST_LAPSED)
    again = run_due(db, tmp_path, "w", FIRST_LAPSED + timedelta(days=40))
    assert (again.revoked, again.archived, again.purged) == ([], [], [])
    assert len(closures(db)) == 1


def test_a_crash_between_archive_and_purge_is_finished_by_the_next_run(
    db: Database, make_tenant: MakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = shop(make_tenant)
    fill(db, a)

    def crash(*_a: Any, **_k: Any) -> bool:
        raise RuntimeError("killed")

    monkeypatch.setattr(closure, "purge", crash)
    with pytest.raises(RuntimeError):
        run_due(db, tmp_path, "first", FIRST_LAPSED)
    monkeypatch.undo()
    [row] = closures(db)
    assert row.archived_at == FIRST_LAPSED and row.purged_at is None
    assert counts(db, a.licensee.id)["messages"] == 6  # nothing purged yet
    archive = tmp_path / str(row.archive_name)
    written = archive.stat().st_mtime_ns

    # The crashed worker's lease holds the closure until it expires; then another takes over.
    assert run_due(db, tmp_path, "second", FIRST_LAPSED + LEASE / 2).purged == []
    later = FIRST_LAPSED + LEASE + timedelta(seconds=1)
    run = run_due(db, tmp_path, "second", later)
    assert run.archived == [] and run.purged == [a.licensee.id]  # not archived again
    assert archive.stat().st_mtime_ns == written
    assert counts(db, a.licensee.id)["messages"] == 0


def test_a_crash_before_the_archive_is_recorded_writes_it_again(
    db: Database, make_tenant: MakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = shop(make_tenant)
    fill(db, a)

    def crash(*_a: Any, **_k: Any) -> bool:
        raise RuntimeError("killed")

    monkeypatch.setattr(closure, "record_archive", crash)
    with pytest.raises(RuntimeError):
        run_due(db, tmp_path, "first", FIRST_LAPSED)
    monkeypatch.undo()
    [row] = closures(db)
    assert row.archived_at is None
    assert counts(db, a.licensee.id)["messages"] == 6  # never purged without a recorded archive
    run = run_due(db, tmp_path, "first", FIRST_LAPSED + timedelta(seconds=5))  # same worker
    assert run.archived == run.purged == [a.licensee.id]
    [row] = closures(db)
    with zipfile.ZipFile(tmp_path / str(row.archive_name)) as zf:
        assert json.loads(zf.read("manifest.json"))["counts"]["messages"] == 6


def test_a_renewal_before_the_purge_lifts_the_revocation_and_stops_the_purge(
    db: Database, make_tenant: MakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = shop(make_tenant)
    fill(db, a)
    monkeypatch.setattr(closure, "purge", lambda *_a, **_k: False)
    run_due(db, tmp_path, "w", FIRST_LAPSED)
    monkeypatch.undo()
    with db.session() as session:
        renewal = renew(session, a.licensee.id, date(2027, 1, 31), FIRST_LAPSED + SHANGHAI)
        session.commit()
    assert renewal.lifted and renewal.licensee.status == LicenceStatus.ACTIVE
    with db.session() as session:  # a purge already under way finds the closure lifted
        assert not closure.purge(session, closures(db)[0].id, "w", FIRST_LAPSED)
        session.commit()
    assert run_due(db, tmp_path, "w", FIRST_LAPSED + timedelta(days=1)).purged == []
    assert counts(db, a.licensee.id)["messages"] == 6
    with db.read_session() as session:
        authenticate_key(session, a.keys.site_key, {KeyKind.LIVE})


def test_after_the_purge_a_renewal_or_resume_is_refused(
    db: Database, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    a = shop(make_tenant)
    run_due(db, tmp_path, "w", FIRST_LAPSED)
    with db.session() as session, pytest.raises(Conflict, match="purged"):
        renew(session, a.licensee.id, date(2027, 1, 31), FIRST_LAPSED)
    with db.session() as session, pytest.raises(Conflict, match="revoked"):
        resume(session, a.licensee.id, FIRST_LAPSED)
    assert status(db, a.licensee.id) == LicenceStatus.REVOKED


def test_a_server_down_for_months_catches_up_on_its_first_run(
    db: Database, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    a, b = shop(make_tenant, "A"), shop(make_tenant, "B")
    run = run_due(db, tmp_path, "w", FIRST_LAPSED + timedelta(days=120))
    assert sorted(run.purged) == sorted([a.licensee.id, b.licensee.id])


def test_of_two_concurrent_claims_one_gets_the_lease(
    db_url: str, db: Database, make_tenant: MakeTenant
) -> None:
    shop(make_tenant)
    with db.session() as session:
        [due] = closure.due_for_revocation(session, FIRST_LAPSED)
        closure.revoke_lapsed(session, due, FIRST_LAPSED)
        session.commit()
    [row] = closures(db)
    runners = [Database(db_url, sqlite_synchronous="NORMAL") for _ in range(2)]
    first_claimed = threading.Event()
    got: dict[str, bool] = {}

    def claim_and_hold(database: Database) -> None:
        with database.session() as session:
            got["first"] = closure.claim(session, row.id, "first", FIRST_LAPSED)
            first_claimed.set()
            time.sleep(0.3)  # the second claims while this one's transaction is open
            session.commit()

    def claim_second(database: Database) -> None:
        first_claimed.wait()
        with database.session() as session:
            got["second"] = closure.claim(session, row.id, "second", FIRST_LAPSED)
            session.commit()

    threads = [
        threading.Thread(target=claim_and_hold, args=(runners[0],)),
        threading.Thread(target=claim_second, args=(runners[1],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for runner in runners:
        runner.close()
    assert got == {"first": True, "second": False}
    [row] = closures(db)
    assert row.claimed_by == "first"


def test_two_runners_at_once_close_each_licence_once(
    db_url: str,
    db: Database,
    make_tenant: MakeTenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenants = [shop(make_tenant, f"S{i}") for i in range(3)]
    for tenant in tenants:
        fill(db, tenant, visitors=2)
    written: list[str] = []

    def counted(session: Session, licensee: Licensee, *args: Any) -> Any:
        written.append(licensee.id)
        return write_archive(session, licensee, *args)

    monkeypatch.setattr(closure, "write_archive", counted)
    runners = [Database(db_url, sqlite_synchronous="NORMAL") for _ in range(2)]
    start = threading.Barrier(2)
    runs: list[closure.ClosureRun] = []

    def go(database: Database, name: str) -> None:
        start.wait()
        runs.append(run_due(database, tmp_path, name, FIRST_LAPSED))

    threads = [threading.Thread(target=go, args=(r, f"w{i}")) for i, r in enumerate(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for runner in runners:
        runner.close()
    assert len(runs) == 2
    ids = sorted(t.licensee.id for t in tenants)
    for step in ("revoked", "archived", "purged"):
        done = [i for run in runs for i in getattr(run, step)]
        assert sorted(done) == ids, step  # each licence once, by one runner or the other
    assert len(closures(db)) == 3
    assert sorted(written) == ids  # no archive written twice
    assert len(list(tmp_path.glob("*.zip"))) == 3


def test_a_crash_inside_the_purge_deletes_nothing_and_the_next_run_purges(
    db: Database, make_tenant: MakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = shop(make_tenant)
    fill(db, a)
    real = table_of

    def crash_on_conversations(model: Any) -> Any:
        if model is Conversation:  # after every delete, before the commit
            raise RuntimeError("killed")
        return real(model)

    monkeypatch.setattr(closure, "table_of", crash_on_conversations)
    with pytest.raises(RuntimeError):
        run_due(db, tmp_path, "first", FIRST_LAPSED)
    monkeypatch.undo()
    [row] = closures(db)
    assert row.archived_at is not None and row.purged_at is None
    assert counts(db, a.licensee.id) == {
        "conversations": 3, "messages": 6, "ratings": 1, "end_users": 1, "kb": 1, "blocks": 1,
    }  # fmt: skip
    run = run_due(db, tmp_path, "second", FIRST_LAPSED + LEASE + timedelta(seconds=1))
    assert run.purged == [a.licensee.id] and counts(db, a.licensee.id)["messages"] == 0
