"""The home page's figures of this month: from the daily figures (not the conversations), equal
to the rows, the licensor's over every licensee and a licensee admin's its own."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import update
from starlette.testclient import TestClient

from core.accounts import Role
from core.db.engine import Database
from core.db.tables import DailyFigures, table_of
from core.licensing.service_period import local_date, start_of_day
from core.reporting.daily import refresh
from core.types import utcnow
from testkit.admin import make_user, sign_in
from testkit.reporting import key_of, message, start_conversation
from testkit.tenants import MakeTenant

SOURCE = [{"id": "kb_1", "question": "q"}]


def figures(client: TestClient) -> dict[str, str]:
    page = client.get("/admin?lang=en").text
    found = re.findall(
        r'<span class="figure">([^<]*)</span><span class="label">([^<]*)</span>', page
    )
    return {html.unescape(label): value for value, label in found}


def traffic(db: Database, lic: str, n: int) -> None:
    """``n`` conversations this month (the first a test one); every other reply "don't know"."""
    now = utcnow()
    first = start_of_day(local_date(now, "Asia/Shanghai").replace(day=1), "Asia/Shanghai")
    with db.session() as s:
        key = key_of(s, lic)
        for i in range(n):
            at = first + (now - first) * (i + 1) / (n + 1)
            conv = start_conversation(s, lic, key, at, test=i == 0)
            message(s, conv, lic, 1, "visitor", at)
            message(s, conv, lic, 2, "robot", at + timedelta(seconds=1), [] if i % 2 else SOURCE)
        s.commit()


def test_the_home_shows_this_months_figures_read_from_the_daily_figures(
    db: Database, app: FastAPI, make_tenant: MakeTenant
) -> None:
    since = utcnow() - timedelta(days=60)
    a = make_tenant("A", now=since).licensee.id
    b = make_tenant("B", now=since).licensee.id
    traffic(db, a, 5)
    traffic(db, b, 2)
    with db.session() as s:
        refresh(s, utcnow())
        s.commit()
    owner = make_user(db, Role.OWNER)
    admin = make_user(db, Role.ADMIN, licensee_id=a)
    with (
        TestClient(app, follow_redirects=False) as web,
        TestClient(app, follow_redirects=False) as mine,
    ):
        assert sign_in(web, owner.email).status_code == 303
        assert sign_in(mine, admin.email).status_code == 303
        every = figures(web)
        assert every["Licensees"] == "2"
        assert every["Units this month"] == "5"  # 4 of A, 1 of B; the test ones not
        assert every["Conversations this month (tests included)"] == "7"
        assert (every["Answered this month"], every["Don't know this month"]) == ("4", "3")
        own = figures(mine)
        assert own["Units this month"] == "4" and own["Don't know this month"] == "2"
        # Read from the daily figures: a change there is what the page shows.
        f = table_of(DailyFigures)
        with db.session() as s:
            s.execute(update(f).where(f.c.licensee_id == a).values(billable_units=100))
            s.commit()
        assert figures(mine)["Units this month"] == str(100 * len(_days(db, a)))


def _days(db: Database, lic: str) -> list[object]:
    from sqlalchemy import select

    f = table_of(DailyFigures)
    return db.read(lambda s: list(s.execute(select(f.c.day).where(f.c.licensee_id == lic))))
