"""The served product keeps the reports' figures current: its leader refreshes them on its own."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import select
from starlette.testclient import TestClient

from core.db.engine import Database
from core.db.tables import DailyFigures
from core.types import utcnow
from kefu.app import create_app
from testkit.reporting import key_of, start_conversation
from testkit.servers import settings_for
from testkit.tenants import MakeTenant


def test_the_leader_refreshes_the_daily_figures(
    db: Database, db_url: str, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    with db.session() as s:
        start_conversation(s, lic, key_of(s, lic), utcnow() - timedelta(minutes=1))
        s.commit()
    app = create_app(settings_for(db_url, reports_refresh_interval_seconds=0.2), db=db)
    with TestClient(app):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with db.read_session() as s:
                found = s.exec(select(DailyFigures.conversations)).all()
            if found:
                break
            time.sleep(0.1)
    assert found == [1]
