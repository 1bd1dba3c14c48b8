"""The closing job over a real server: a licence a month past its end is revoked, its open
sockets are told and closed, its keys refused, its data archived and purged; others chat on."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from websockets.exceptions import InvalidStatus

from bot.chat.services import build_services
from bot.jobs.closer import Closer
from core.db.engine import Database
from core.db.tables import LicenceStatus, Licensee, Message
from core.licensing.service_period import lapse_day, start_of_day
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.chat_client import Chat
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import MakeTenant


def messages(live: LiveServer, licensee_id: str) -> int:
    table = Message.__table__  # type: ignore[attr-defined]
    query = select(func.count()).select_from(table).where(table.c.licensee_id == licensee_id)
    return int(live.services.db.read(lambda conn: conn.execute(query).scalar_one()))


@pytest.mark.anyio
async def test_a_lapsed_licence_is_revoked_its_sockets_closed_and_its_data_purged(
    live: LiveServer, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    t = make_tenant()
    other = make_tenant(name="Other", end=t.licensee.service_end + timedelta(days=730))
    live.services.settings.archive_dir = tmp_path / "archives"
    widget = await Chat.start(live.ws_url, t.keys.site_key)
    await widget.ask("w1", "你好")
    bystander = await Chat.start(live.ws_url, other.keys.site_key)
    await bystander.ask("b1", "hi")
    assert messages(live, t.licensee.id) == 2

    closer = Closer(live.services)
    lapsed = start_of_day(lapse_day(t.licensee.service_end), t.licensee.timezone)
    # The job at the first moment of the lapse day (a year ahead: "now" is passed in).
    run = await closer.run_once(lapsed)
    assert run.revoked == run.purged == [t.licensee.id]

    # The watcher (every 0.2 s in tests) tells the socket: the unit ended, then the notice.
    assert (await widget.expect("ended", wait=5))["reason"] == "suspended"
    assert (await widget.expect("notice", wait=5))["kind"] == "suspended"
    assert await widget.close_code() == 4403
    with pytest.raises(InvalidStatus) as refused:
        await Chat.open(live.ws_url, t.keys.site_key)
    assert refused.value.response.status_code == 401
    assert messages(live, t.licensee.id) == 0
    assert len(list((tmp_path / "archives").glob(f"{t.licensee.id}-*.zip"))) == 1

    _ack, frames = await bystander.ask("b2", "still here")
    assert frames[-1]["type"] == "reply.end"
    assert messages(live, other.licensee.id) == 4
    await bystander.close()


def test_kefu_serve_runs_the_job_and_catches_up_on_a_licence_lapsed_while_down(
    db: Database, make_tenant: MakeTenant, tmp_path: Path
) -> None:
    t = make_tenant(now=datetime(2024, 1, 1, tzinfo=UTC), start=date(2024, 1, 1))
    settings = settings_for(db.url, closure_interval_seconds=0.2, archive_dir=tmp_path)
    services = build_services(
        settings, db, answerer=EchoAnswerer(), index_builder=KeywordIndex.build
    )
    for _address in run_server(services):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list(tmp_path.glob("*.zip")):
            time.sleep(0.1)
        with db.read_session() as session:
            licensee = session.get(Licensee, t.licensee.id)
            assert licensee is not None and licensee.status == LicenceStatus.REVOKED
        assert [p.name for p in tmp_path.glob("*.zip")] == [f"{t.licensee.id}-2024-12-31.zip"]
