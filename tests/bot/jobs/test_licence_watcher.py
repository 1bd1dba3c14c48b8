"""The licence watcher, run by hand: changes made elsewhere reach this process's sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.jobs.licence_watcher import LicenceWatcher
from core.chat.frames import CloseCode, Ended, EndReason, Notice, NoticeKind
from core.db.tables import Conversation, LicenceStatus
from core.licensing.licensees import get_licensee, revoke_key, set_status
from core.licensing.maintenance import announce
from testkit.sessions import ChatKit

pytestmark = pytest.mark.anyio


async def test_suspension_tells_every_socket_and_writes_nothing(chat_kit: ChatKit) -> None:
    watcher = LicenceWatcher(chat_kit.services)
    session, outbox = await chat_kit.greeted()
    idle, idle_outbox = await chat_kit.greeted()  # no unit open on this one
    await chat_kit.say(session, {"type": "message", "id": "1", "text": "hi"})
    await session.answering.wait()
    conv = session.conversation
    assert conv is not None
    await watcher.check_once()  # nothing changed yet
    assert outbox.closed is None
    chat_kit.clock.advance(seconds=1)
    with chat_kit.db.session() as s:
        set_status(s, chat_kit.licensee.id, LicenceStatus.SUSPENDED, chat_kit.clock())
        s.commit()
    await watcher.check_once()
    ended, notice = outbox.frames[-2:]
    assert isinstance(ended, Ended) and ended.reason == EndReason.SUSPENDED
    assert ended.conversation.id == conv.id
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.SUSPENDED
    assert outbox.closed == (CloseCode.SUSPENDED, "suspended")
    assert idle_outbox.types()[-1] == "notice" and idle_outbox.closed == (4403, "suspended")
    # Ending the units is the suspension's own write (one transaction with the status).
    assert chat_kit.count(Conversation, end_reason="suspended") == 0
    assert session.closed and idle.closed


async def test_a_revoked_key_closes_its_sockets_only(chat_kit: ChatKit) -> None:
    watcher = LicenceWatcher(chat_kit.services)
    _live, live_outbox = await chat_kit.connect()
    test, test_outbox = await chat_kit.connect(chat_kit.keys.test_site_key)
    with chat_kit.db.session() as s:
        revoke_key(s, chat_kit.keys.site_key, chat_kit.clock())
        s.commit()
    await watcher.check_once()
    [notice] = live_outbox.frames
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.SUSPENDED
    assert live_outbox.closed == (CloseCode.SUSPENDED, "revoked")
    assert test_outbox.closed is None and not test.closed


async def test_a_maintenance_window_closes_sockets_when_it_starts(chat_kit: ChatKit) -> None:
    watcher = LicenceWatcher(chat_kit.services)
    _session, outbox = await chat_kit.greeted()
    now = chat_kit.clock()
    with chat_kit.db.session() as s:
        window = announce(
            s,
            starts_at=now + timedelta(days=1, minutes=1),
            ends_at=now + timedelta(days=1, hours=2),
            now=now,
            licensee_id=chat_kit.licensee.id,
        )
        s.commit()
    await watcher.check_once()
    assert outbox.closed is None  # announced, not yet started
    chat_kit.clock.now = window.starts_at + timedelta(minutes=1)
    await watcher.check_once()
    notice = outbox.frames[-1]
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.MAINTENANCE
    assert notice.ends_at == window.ends_at
    assert outbox.closed == (CloseCode.MAINTENANCE, "maintenance")


async def test_a_changed_licensee_reaches_open_sessions(chat_kit: ChatKit) -> None:
    watcher = LicenceWatcher(chat_kit.services)
    session, _outbox = await chat_kit.greeted()
    await watcher.check_once()
    with chat_kit.db.session() as s:
        row = get_licensee(s, chat_kit.licensee.id)
        row.idle_timeout_minutes = 5
        row.updated_at = chat_kit.clock() + timedelta(seconds=1)  # as every change does
        s.add(row)
        s.commit()
    await watcher.check_once()
    assert session.licensee.idle_timeout_minutes == 5
    assert session.policy.idle == timedelta(minutes=5)
