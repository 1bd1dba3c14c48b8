"""The agent console's pages: agents only, their own licensee's canned answers and left
messages, Chinese and English, markup shown as text."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.testclient import TestClient

from core.accounts import Role
from core.chat import left_messages
from core.db.engine import Database
from core.db.tables import KbEntryRecord
from testkit.admin import Browser, make_user, page_csrf, sign_in
from testkit.tenants import MakeTenant

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def signed_in(browser: Browser, db: Database, role: Role, licensee_id: str | None) -> TestClient:
    user = make_user(db, role, licensee_id=licensee_id, name="小王")
    client = browser()
    assert sign_in(client, user.email).status_code == 303
    return client


def test_agents_land_on_the_console_and_others_may_not(
    browser: Browser, db: Database, make_tenant: MakeTenant
) -> None:
    lic = make_tenant().licensee.id
    anonymous = browser()
    assert anonymous.get("/agent").status_code == 303  # to the sign-in form
    assert anonymous.get("/admin/api/agent/answers?q=x").status_code == 401
    agent = signed_in(browser, db, Role.AGENT, lic)
    assert agent.get("/admin").headers["location"] == "/agent"
    page = agent.get("/agent")
    assert page.status_code == 200 and "坐席工作台" in page.text and "/v1/agent" not in page.text
    assert "agent.js" in page.text
    english = agent.get("/agent?lang=en")
    assert "Agent console" in english.text and '"accept": "Accept"' in english.text
    for role, licensee_id in ((Role.ADMIN, lic), (Role.OWNER, None)):
        other = signed_in(browser, db, role, licensee_id)
        assert other.get("/agent").status_code == 403
        assert other.get("/admin/api/agent/answers?q=x").status_code == 403


def test_canned_answers_are_the_agents_own_licensees(
    browser: Browser, db: Database, make_tenant: MakeTenant
) -> None:
    mine = make_tenant("A").licensee.id
    theirs = make_tenant("B", origins=["https://b.example.com"]).licensee.id
    with db.session() as s:
        for n, (lic, answer) in enumerate(((mine, "A's return policy"), (theirs, "B's secret"))):
            s.add(
                KbEntryRecord(
                    id=f"kb_{n}",
                    licensee_id=lic,
                    question="退货政策",
                    answer=answer,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        s.commit()
    agent = signed_in(browser, db, Role.AGENT, mine)
    found = agent.get("/admin/api/agent/answers", params={"q": "退货"}).json()
    assert [i["answer"] for i in found["items"]] == ["A's return policy"]
    too_long = agent.get("/admin/api/agent/answers", params={"q": "x" * 101})
    assert too_long.status_code == 422


def test_left_messages_listed_escaped_and_marked(
    browser: Browser, db: Database, make_tenant: MakeTenant
) -> None:
    mine = make_tenant("A").licensee.id
    theirs = make_tenant("B", origins=["https://b.example.com"]).licensee.id

    def leave(lic: str, text: str) -> str:
        return db.run(
            lambda s: left_messages.leave(
                s,
                licensee_id=lic,
                visitor_id="v1",
                conversation_id=None,
                contact="ann@example.com",
                text=text,
                locale="en",
                page="https://shop.example.com/p",
                now=NOW,
            )
        )

    mine_id = leave(mine, "<script>alert(1)</script> call me")
    theirs_id = leave(theirs, "B's customer")
    agent = signed_in(browser, db, Role.AGENT, mine)
    page = agent.get("/agent/left")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; call me" in page.text
    assert "<script>alert(1)" not in page.text and "B's customer" not in page.text
    assert "2026-12-06 11:00" in page.text  # the licensee's time zone (Shanghai)
    csrf = page_csrf(agent, "/agent/left")
    assert agent.post(f"/agent/left/{mine_id}/done").status_code == 403  # no CSRF
    refused = agent.post(f"/agent/left/{theirs_id}/done", data={"csrf_token": csrf})
    assert refused.status_code == 404
    done = agent.post(f"/agent/left/{mine_id}/done", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert "call me" not in agent.get("/agent/left").text
    assert "call me" in agent.get("/agent/left?done=1").text
    assert db.read(lambda s: left_messages.listed(s, theirs))[0].done_at is None
