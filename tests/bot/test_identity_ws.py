"""Verified end users (hello.user) and the licensee's widget look, against a real server."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from core.db.tables import Conversation, EndUser, table_of
from core.licensing.identity import identity_secret, user_hash
from core.licensing.licensees import get_licensee
from core.licensing.service_period import local_date
from core.types import utcnow
from kefu.cli import app
from testkit.chat_client import Chat
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant, Tenant

pytestmark = pytest.mark.anyio

BOM = b"\xef\xbb\xbf"


def secret_of(live: LiveServer, tenant: Tenant, epoch: int = 0) -> str:
    return identity_secret(live.services.settings.secret(), tenant.licensee.id, epoch)


def user(secret: str, user_id: str) -> dict[str, str]:
    """What the licensee's page puts in hello.user, with the hash its own server computed."""
    return {"id": user_id, "hash": user_hash(secret, user_id)}


async def hello(
    live: LiveServer, tenant: Tenant, who: object = None, visitor: str | None = None
) -> tuple[Chat, dict[str, Any]]:
    chat = await Chat.open(live.ws_url, tenant.keys.site_key)
    frame: dict[str, Any] = {"type": "hello", "visitor": visitor, "locale": "en"}
    if who is not None:
        frame["user"] = who
    await chat.send(frame)
    welcome = await chat.expect("welcome")
    return chat, welcome


def visitor_of(welcome: dict[str, Any]) -> str:
    token: str = welcome["visitor"]
    return token.partition(".")[0]


def kefu(live: LiveServer, *args: str) -> Any:
    """The CLI, on the live server's database and secret."""
    env = {
        "KEFU_DATABASE_URL": live.services.db.url,
        "KEFU_SECRET_KEY": live.services.settings.secret(),
    }
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


# ------------------------------------------------------------------ identify


async def test_a_verified_user_is_one_visitor_on_every_device(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    who = user(secret_of(live, t), "customer-42")

    phone, first = await hello(live, t, who)
    assert first["user"] == "customer-42"
    assert first["conversation"] is None
    ack, _ = await phone.ask("p1", "where is my parcel")
    conv = ack["conversation"]["id"]
    await phone.close()

    # Another browser, no visitor token: the same end user, the same open conversation.
    laptop, second = await hello(live, t, who)
    assert second["user"] == "customer-42"
    assert visitor_of(second) == visitor_of(first)
    assert second["conversation"]["id"] == conv
    earliest = second["history"][0]
    assert (earliest["role"], earliest["text"]) == ("visitor", "where is my parcel")
    ack2, _ = await laptop.ask("l1", "any news?")
    assert ack2["conversation"]["id"] == conv
    await laptop.close()
    stored = live.services.db.read(lambda conn: conn.execute(table_of(Conversation).select()).all())
    assert [r.visitor_id for r in stored] == [visitor_of(first)]


async def test_a_verified_users_token_alone_never_resumes_the_conversation(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    who = user(secret_of(live, t), "u-1")
    chat, welcome = await hello(live, t, who)
    ack, _ = await chat.ask("a", "hi")
    await chat.close()
    # After log-out (no user, or a hash that no longer verifies), the stored token is worth
    # nothing: a new anonymous visitor, not the user's conversation.
    for claim in (None, {"id": "u-1", "hash": "0" * 64}):
        again, fresh = await hello(live, t, claim, visitor=welcome["visitor"])
        assert fresh["user"] is None and fresh["conversation"] is None
        assert visitor_of(fresh) != visitor_of(welcome)
        await again.close()
    # With the user, the conversation is there as before.
    back, resumed = await hello(live, t, who, visitor=welcome["visitor"])
    assert resumed["conversation"]["id"] == ack["conversation"]["id"]
    await back.close()


async def test_a_truncated_visitor_signature_is_refused(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat, welcome = await hello(live, t)
    await chat.ask("a", "hi")
    await chat.close()
    visitor_id = visitor_of(welcome)
    for forged in (f"{visitor_id}.0", f"{visitor_id}.1", f"{visitor_id}.", welcome["visitor"][:-1]):
        other, got = await hello(live, t, visitor=forged)
        assert visitor_of(got) != visitor_id and got["conversation"] is None
        await other.close()


async def test_a_verified_user_ignores_an_anonymous_token(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    anon, anonymous = await hello(live, t)
    await anon.ask("a", "before logging in")
    await anon.close()

    chat, welcome = await hello(live, t, user(secret_of(live, t), "u-7"), anonymous["visitor"])
    assert welcome["user"] == "u-7"
    assert visitor_of(welcome) != visitor_of(anonymous)
    assert welcome["conversation"] is None and welcome["history"] == []  # nothing merged
    await chat.close()


def malformed_users(secret: str) -> list[object]:
    good = user(secret, "u-1")
    return [
        "u-1",
        42,
        ["u-1", good["hash"]],
        {},
        {"id": "u-1"},
        {"hash": good["hash"]},
        {"id": 1, "hash": good["hash"]},
        {"id": "u-1", "hash": None},
        {"id": "", "hash": user_hash(secret, "")},
        {"id": "x" * 129, "hash": user_hash(secret, "x" * 129)},
        {"id": "a\x00b", "hash": user_hash(secret, "a\x00b")},
        {"id": "u-1", "hash": good["hash"] + "00"},
        {"id": "u-1", "hash": "ä" * 64},
        {"id": "u-1", "hash": "x" * 10_000},
        {"id": "u-2", "hash": good["hash"]},  # a hash of another user
        {"id": "u-1", "hash": user_hash("idv_guess", "u-1")},
    ]


async def test_a_wrong_or_malformed_user_is_ignored_and_the_hello_still_welcomed(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    secret = secret_of(live, t)
    verified_chat, verified = await hello(live, t, user(secret, "u-1"))
    await verified_chat.close()
    anon, anonymous = await hello(live, t)
    await anon.ask("a", "anonymous question")
    await anon.close()

    for who in malformed_users(secret):
        chat, welcome = await hello(live, t, who)
        assert welcome["user"] is None, who
        assert visitor_of(welcome) != visitor_of(verified), who
        assert welcome["conversation"] is None, who
        await chat.close()
        # With the anonymous token, everything is as it always was.
        chat, welcome = await hello(live, t, who, anonymous["visitor"])
        assert welcome["user"] is None, who
        assert welcome["visitor"] == anonymous["visitor"], who
        assert welcome["history"][0]["text"] == "anonymous question", who
        await chat.close()


async def test_licensee_a_identity_secret_does_not_verify_for_b(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    a, b = make_tenant("Shop A"), make_tenant("Shop B")
    assert secret_of(live, a) != secret_of(live, b)
    at_a, welcome_a = await hello(live, a, user(secret_of(live, a), "same-user"))
    assert welcome_a["user"] == "same-user"
    await at_a.close()
    at_b, welcome_b = await hello(live, b, user(secret_of(live, a), "same-user"))
    assert welcome_b["user"] is None
    await at_b.close()
    # B's own hash verifies, as a visitor of B's that is not A's.
    at_b, welcome_b = await hello(live, b, user(secret_of(live, b), "same-user"))
    assert welcome_b["user"] == "same-user"
    assert visitor_of(welcome_b) != visitor_of(welcome_a)
    await at_b.close()


async def test_rotating_the_identity_secret_invalidates_old_hashes(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    printed = kefu(live, "licensee", "identity-secret", t.licensee.id).stdout.strip()
    assert printed == secret_of(live, t)  # the CLI and the server derive the same secret
    old = user(printed, "u-9")
    chat, before = await hello(live, t, old)
    assert before["user"] == "u-9"
    ack, _ = await chat.ask("m", "hello")
    await chat.close()

    kefu(live, "licensee", "identity-secret", t.licensee.id, "--rotate", "--json")
    with live.services.db.read_session() as session:
        assert get_licensee(session, t.licensee.id).identity_epoch == 1

    chat, after = await hello(live, t, old)
    assert after["user"] is None and after["conversation"] is None
    await chat.close()
    # A hash made with the new secret verifies: the same end user, the same conversation.
    chat, renewed = await hello(live, t, user(secret_of(live, t, epoch=1), "u-9"))
    assert renewed["user"] == "u-9"
    assert visitor_of(renewed) == visitor_of(before)
    assert renewed["conversation"]["id"] == ack["conversation"]["id"]
    await chat.close()


async def test_the_usage_api_names_the_verified_end_user(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat, _ = await hello(live, t, user(secret_of(live, t), "=HYPERLINK(1)"))
    identified, _ = await chat.ask("a", "hi")
    await chat.close()
    chat, _ = await hello(live, t)
    anonymous, _ = await chat.ask("b", "hi")
    await chat.close()
    # The user is recorded once, however often it comes back.
    for _ in range(2):
        again, _ = await hello(live, t, user(secret_of(live, t), "=HYPERLINK(1)"))
        await again.close()
    rows = live.services.db.read(lambda conn: conn.execute(table_of(EndUser).select()).all())
    assert [(r.licensee_id, r.user_id) for r in rows] == [(t.licensee.id, "=HYPERLINK(1)")]

    month = local_date(utcnow(), t.licensee.timezone).strftime("%Y-%m")
    auth = {"Authorization": f"Bearer {t.keys.secret_key}"}
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        data = await http.get("/v1/usage/conversations", params={"month": month}, headers=auth)
        body = await http.get(
            "/v1/usage/conversations",
            params={"month": month},
            headers={**auth, "Accept": "text/csv"},
        )
    by_id = {r["id"]: r for r in data.json()["conversations"]}
    assert by_id[identified["conversation"]["id"]]["end_user"] == "=HYPERLINK(1)"
    assert by_id[anonymous["conversation"]["id"]]["end_user"] is None
    assert body.content.startswith(BOM)
    table = list(csv.reader(io.StringIO(body.content[len(BOM) :].decode(), newline="")))
    assert table[0][-1] == "end_user"
    cells = {row[0]: row[-1] for row in table[1:]}
    assert cells[identified["conversation"]["id"]] == "'=HYPERLINK(1)"  # neutralised
    assert cells[anonymous["conversation"]["id"]] == ""


# ------------------------------------------------------------------ widget look


async def test_the_welcome_carries_what_configure_set(
    live: LiveServer, make_tenant: MakeTenant
) -> None:
    t = make_tenant()
    chat, plain = await hello(live, t)
    assert plain["config"]["theme"] == {"color": "#2563eb", "position": "right"}
    await chat.close()

    result = kefu(
        live,
        "licensee",
        "configure",
        t.licensee.id,
        "--title",
        "Acme help",
        "--greeting",
        "Hi! Ask me about orders.",
        "--color",
        "#0A7",
        "--position",
        "left",
        "--json",
    )
    printed = result.stdout

    chat, welcome = await hello(live, t)
    config = welcome["config"]
    assert config["title"] == "Acme help"
    assert config["greeting"] == "Hi! Ask me about orders."
    assert config["theme"] == {"color": "#0a7", "position": "left"}
    assert '"position": "left"' in printed
    await chat.close()
