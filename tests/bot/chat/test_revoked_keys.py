"""A revoked key stops billing where the message is written, before any watcher looks."""

from __future__ import annotations

import pytest

from bot.chat.session import ChatSession
from core.chat.frames import CloseCode, Notice, NoticeKind
from core.db.tables import Conversation, Message
from core.licensing.licensees import authenticate_chat, revoke_key
from testkit.sessions import ChatKit, Outbox
from testkit.tenants import ORIGIN

pytestmark = pytest.mark.anyio


async def _opened(
    kit: ChatKit, site_key: str | None, origin: str | None
) -> tuple[ChatSession, Outbox]:
    with kit.db.read_session() as s:
        ctx = authenticate_chat(
            s, site_key, origin, kit.keys.secret_key if origin is None else None
        )
    outbox = Outbox()
    session = ChatSession(kit.services, ctx, outbox)
    kit.sessions.append(session)
    assert await session.start()
    await kit.say(session, {"type": "hello", "visitor": None, "locale": "en"})
    assert outbox.types() == ["welcome"]
    outbox.take()
    return session, outbox


@pytest.mark.parametrize(
    ("revoked", "site_key", "origin"),
    [
        ("secret", None, None),  # a server-side client with its secret key alone
        ("secret", "live", None),  # a secret key and a site key together
        ("live", "live", ORIGIN),  # a widget
    ],
)
async def test_a_message_after_its_key_is_revoked_starts_no_conversation(
    chat_kit: ChatKit, revoked: str, site_key: str | None, origin: str | None
) -> None:
    keys = chat_kit.keys
    session, outbox = await _opened(chat_kit, keys.site_key if site_key else None, origin)
    with chat_kit.db.session() as s:
        revoke_key(s, keys.secret_key if revoked == "secret" else keys.site_key, chat_kit.clock())
        s.commit()
    # No watcher has run: the write itself finds the key revoked.
    await chat_kit.say(session, {"type": "message", "id": "m1", "text": "hello"})
    [notice] = outbox.frames
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.SUSPENDED
    assert outbox.closed == (CloseCode.SUSPENDED, "revoked")
    assert chat_kit.count(Conversation) == 0 and chat_kit.count(Message) == 0


async def test_a_session_opened_with_a_secret_key_is_filed_under_both_keys(
    chat_kit: ChatKit,
) -> None:
    session, _ = await _opened(chat_kit, None, None)
    hub = chat_kit.services.hub
    assert set(session.credentials) == hub.key_ids() and len(session.credentials) == 2
    for key_id in session.credentials:
        assert hub.of_key(key_id) == [session]
