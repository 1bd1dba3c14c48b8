"""The leader's licence round: what changed for any licensee goes on the bus for every process,
the leader's own sockets are told directly, and an unchanged round publishes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.jobs.licence_changes import LicenceChanges
from bot.jobs.licence_watcher import LicenceWatcher
from core.bus import Data, Handler, Topic
from core.db.tables import LicenceStatus, Licensee
from core.licensing.licensees import revoke_key, set_status
from core.licensing.maintenance import announce
from testkit.sessions import ChatKit

pytestmark = pytest.mark.anyio


class RecordingBus:
    """The bus of a process among several: records what it would tell the others."""

    def __init__(self) -> None:
        self.sent: list[tuple[Topic, Data]] = []

    def subscribe(self, handler: Handler) -> None:
        pass

    async def publish(self, topic: Topic, data: Data) -> None:
        self.sent.append((topic, data))

    def healthy(self) -> tuple[bool, str]:
        return True, "recording"

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def take(self) -> list[tuple[Topic, Data]]:
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture
def bus(chat_kit: ChatKit) -> RecordingBus:
    recording = RecordingBus()
    chat_kit.services.bus = recording
    return recording


async def test_a_new_leader_asks_everyone_to_read_again_then_publishes_only_changes(
    chat_kit: ChatKit, bus: RecordingBus
) -> None:
    changes = LicenceChanges(chat_kit.services, LicenceWatcher(chat_kit.services))
    assert await changes.round() is None
    assert bus.take() == [(Topic.LICENCE, {})]  # whatever changed while nobody led
    assert not await changes.round()
    assert bus.take() == []
    changes.forget()  # lost the lead, then took it again
    await changes.round()
    assert bus.take() == [(Topic.LICENCE, {})]


async def test_a_suspension_nobody_announced_is_published_and_applied_here(
    chat_kit: ChatKit, bus: RecordingBus
) -> None:
    changes = LicenceChanges(chat_kit.services, LicenceWatcher(chat_kit.services))
    _session, outbox = await chat_kit.greeted()
    await changes.round()
    bus.take()
    chat_kit.clock.advance(seconds=1)
    with chat_kit.db.session() as s:
        set_status(s, chat_kit.licensee.id, LicenceStatus.SUSPENDED, chat_kit.clock())
        s.commit()
    assert outbox.closed is None
    await changes.round()
    assert bus.take() == [(Topic.LICENCE, {"licensee_id": chat_kit.licensee.id})]
    assert outbox.closed == (4403, "suspended")  # the leader's own socket, directly


async def test_a_term_that_lapses_is_a_change_though_the_row_is_not(
    chat_kit: ChatKit, bus: RecordingBus
) -> None:
    changes = LicenceChanges(chat_kit.services, LicenceWatcher(chat_kit.services))
    _session, outbox = await chat_kit.greeted()
    await changes.round()
    bus.take()
    with chat_kit.db.read_session() as s:
        licensee = s.get(Licensee, chat_kit.licensee.id)
        assert licensee is not None
        service_end = licensee.service_end
    chat_kit.clock.now = chat_kit.clock.now.replace(
        year=service_end.year + 1, month=service_end.month, day=1
    )
    await changes.round()
    assert bus.take() == [(Topic.LICENCE, {"licensee_id": chat_kit.licensee.id})]
    assert outbox.closed == (4403, "revoked")


async def test_revoked_keys_and_starting_windows_are_published(
    chat_kit: ChatKit, bus: RecordingBus
) -> None:
    changes = LicenceChanges(chat_kit.services, LicenceWatcher(chat_kit.services))
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
    await changes.round()
    bus.take()
    with chat_kit.db.session() as s:
        revoke_key(s, chat_kit.keys.test_site_key, chat_kit.clock())
        s.commit()
    await changes.round()
    [(topic, data)] = bus.take()
    assert topic == Topic.KEY and data["key_id"].startswith("key_")
    assert not await changes.round()  # told once
    assert outbox.closed is None  # another key's socket
    chat_kit.clock.now = window.starts_at + timedelta(seconds=1)
    await changes.round()
    assert bus.take() == [(Topic.MAINTENANCE, {})]
    assert outbox.closed == (4503, "maintenance")
    assert not await changes.round()
