"""Revoking the key a socket was opened with closes it, over a real server (secret keys too)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db.tables import Conversation
from core.licensing.licensees import revoke_key
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio


def conversations(live: LiveServer) -> int:
    query = select(func.count()).select_from(Conversation.__table__)  # type: ignore[attr-defined]
    return int(live.services.db.read(lambda conn: conn.execute(query).scalar_one()))


@pytest.mark.parametrize("with_site_key", [False, True])
async def test_revoking_a_secret_key_closes_the_sockets_it_opened(
    live: LiveServer, make_tenant: MakeTenant, with_site_key: bool
) -> None:
    t, other = make_tenant(), make_tenant(name="Other")
    bearer = {"Authorization": f"Bearer {t.keys.secret_key}"}
    server = await Chat.open(
        live.ws_url, t.keys.site_key if with_site_key else None, origin=None, headers=bearer
    )
    await server.hello()
    await server.ask("s1", "hi")
    widget = await Chat.start(live.ws_url, t.keys.site_key)  # the site key is not revoked
    bystander = await Chat.start(live.ws_url, other.keys.site_key)
    with live.services.db.session() as s:
        revoke_key(s, t.keys.secret_key, utcnow())  # what `kefu key revoke` does
        s.commit()
    # The watcher runs every 0.2 s in tests: the notice comes well within 5 s.
    assert (await server.expect("notice", wait=5))["kind"] == "suspended"
    assert await server.close_code() == 4403
    assert conversations(live) == 1
    _ack, frames = await widget.ask("w1", "still here")
    assert frames[-1]["type"] == "reply.end"
    _ack, frames = await bystander.ask("b1", "still here")
    assert frames[-1]["type"] == "reply.end"
    await widget.close()
    await bystander.close()
