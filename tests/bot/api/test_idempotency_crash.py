"""An ``Idempotency-Key`` whose first request died, before storing its message or after storing
it but before its answer: a retry takes the key over once its lease ends, and the message is
stored once and answered once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest
from sqlalchemy import select

from bot.chat.services import build_services
from core.db.engine import Database
from core.db.tables import Conversation, table_of
from core.licensing import identity
from core.licensing.identity import identity_secret, user_hash
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.chat_client import Chat
from testkit.chat_http import ask, bearer, events, stored
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import Tenant

URL = "/v1/chat/completions"
_C = table_of(Conversation).c
LEASE = 1.0

# A server process's first step of a request with an Idempotency-Key (the same code, on the
# same database), then its death by SIGKILL before it stores the message.
DIE_HOLDING_THE_KEY = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import timedelta
    from functools import partial
    from core.chat import idempotency
    from core.db.engine import Database
    from core.types import utcnow

    url, licensee_id, key, visitor_id, lease = sys.argv[1:]
    db = Database(url)
    taken = db.run(partial(
        idempotency.take, licensee_id=licensee_id, key=key, visitor_id=visitor_id,
        client_id="api_dead", now=utcnow(), lease=timedelta(seconds=float(lease)),
    ))
    assert taken.first
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


# The same, but the process dies after storing the message too (as the request would, under the
# key's own message id), before its answer is stored.
DIE_AFTER_STORING = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import timedelta
    from functools import partial
    from core.chat import conversations as units, idempotency
    from core.db.engine import Database
    from core.db.tables import KeyKind
    from core.licensing.licensees import authenticate_key
    from core.types import utcnow

    url, licensee_id, key, visitor_id, lease, secret_key, text = sys.argv[1:]
    db = Database(url)
    taken = db.run(partial(
        idempotency.take, licensee_id=licensee_id, key=key, visitor_id=visitor_id,
        client_id="api_dead", now=utcnow(), lease=timedelta(seconds=float(lease)),
    ))
    assert taken.first
    with db.read_session() as session:
        ctx = authenticate_key(session, secret_key, {KeyKind.SECRET})
    who = units.Speaker(
        licensee_id=licensee_id, visitor_id=visitor_id, key_id=ctx.key_id, test=False,
        beyond_term=False, policy=units.UnitPolicy(), credentials=(ctx.key_id,),
    )
    rec = db.run(partial(
        units.offer_visitor_message, who=who, client_id="api_dead", text=text, now=utcnow()
    ))
    assert isinstance(rec, units.Recorded), rec
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _live(db: Database, db_url: str) -> Iterator[LiveServer]:
    settings = settings_for(db_url, api_idempotency_lease_seconds=LEASE)
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)


@pytest.fixture
def leased(db: Database, db_url: str) -> Iterator[LiveServer]:
    """A live server whose Idempotency-Key leases last one second."""
    yield from _live(db, db_url)


@pytest.fixture
def leased_too(db_url: str) -> Iterator[LiveServer]:
    """A second server process's worth of services on the same database (its own writer)."""
    other = Database(db_url, sqlite_synchronous="NORMAL")
    try:
        yield from _live(other, db_url)
    finally:
        other.close()


def text_of(response: httpx.Response) -> str:
    if not response.headers["content-type"].startswith("text/event-stream"):
        return str(response.json()["choices"][0]["message"]["content"])
    chunks = [c for c in events(response.text.splitlines()) if isinstance(c, dict)]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def message_of(response: httpx.Response) -> str:
    """The answer's message id (``kefu.message``), of a JSON body or an event stream."""
    if not response.headers["content-type"].startswith("text/event-stream"):
        return str(response.json()["kefu"]["message"])
    chunks = [c for c in events(response.text.splitlines()) if isinstance(c, dict)]
    return str(chunks[-1]["kefu"]["message"])


def die_holding(db_url: str, server: LiveServer, shop: Tenant, key: str, user: str) -> None:
    visitor = identity.visitor_id_for(server.services.settings.secret(), shop.licensee.id, user)
    args = [db_url, shop.licensee.id, key, visitor, str(LEASE)]
    done = subprocess.run(
        [sys.executable, "-c", DIE_HOLDING_THE_KEY, *args], capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def die_after_storing(
    db_url: str, server: LiveServer, shop: Tenant, key: str, user: str, text: str
) -> None:
    visitor = identity.visitor_id_for(server.services.settings.secret(), shop.licensee.id, user)
    args = [db_url, shop.licensee.id, key, visitor, str(LEASE), shop.keys.secret_key, text]
    done = subprocess.run(
        [sys.executable, "-c", DIE_AFTER_STORING, *args], capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def test_a_retry_after_the_first_request_died_is_answered_once(
    leased: LiveServer, leased_too: LiveServer, shop_a: Tenant, db: Database, db_url: str
) -> None:
    leased_too.services.settings = leased.services.settings  # one secret: one end user
    die_holding(db_url, leased, shop_a, "order-7", "jo")
    assert stored(db, shop_a.licensee.id) == (0, 0, 0)
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "order-7"})

    def retry(n: int) -> httpx.Response:
        base = (leased if n % 2 else leased_too).url  # retries reach both servers
        body = ask("where is my parcel", "jo", stream=n % 3 == 0)
        with httpx.Client(base_url=base, timeout=30) as client:
            return client.post(URL, json=body, headers=headers)

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(retry, range(10)))
    for response in responses:
        assert response.status_code == 200, response.text
        assert text_of(response) == "echo: where is my parcel"
    # Not before the dead holder's lease ended (the holder could have been slow, not dead).
    assert time.monotonic() - started >= LEASE * 0.9
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    assert leased.answerer.calls + leased_too.answerer.calls == 1

    with httpx.Client(base_url=leased.url, timeout=30) as client:
        again = client.post(URL, json=ask("where is my parcel", "jo"), headers=headers)
    assert again.json()["choices"][0]["message"]["content"] == "echo: where is my parcel"
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)


def test_a_living_holders_key_is_never_taken_over(
    leased: LiveServer, leased_too: LiveServer, shop_a: Tenant, db: Database
) -> None:
    leased_too.services.settings = leased.services.settings
    # Three pieces: the answer outlasts the lease, which its request renews meanwhile.
    leased.answerer.delay = LEASE * 0.6
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "k"})

    def send(wait: float, server: LiveServer = leased) -> httpx.Response:
        time.sleep(wait)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post(URL, json=ask("hello", "kim"), headers=headers)

    with ThreadPoolExecutor(2) as pool:
        # The retry comes after the first lease, while the first request is still answering,
        # to another process (where no claim of the first request's answer is seen).
        first = pool.submit(send, 0)
        there = pool.submit(send, LEASE * 1.3, leased_too)
        replies = [first.result(), there.result()]
    answer = first.result().json()["kefu"]["message"]
    assert [r.json()["kefu"]["message"] for r in replies] == [answer, answer]
    time.sleep(LEASE * 1.5)  # long after: still the same answer
    assert send(0).json()["kefu"]["message"] == answer
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    assert leased.answerer.calls + leased_too.answerer.calls == 1


def test_a_stored_question_whose_answerer_died_is_answered_once_on_retry(
    leased: LiveServer, leased_too: LiveServer, shop_a: Tenant, db: Database, db_url: str
) -> None:
    leased_too.services.settings = leased.services.settings  # one secret: one end user
    die_after_storing(db_url, leased, shop_a, "order-8", "jo", "where is my parcel")
    assert stored(db, shop_a.licensee.id) == (1, 1, 0)
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "order-8"})

    def retry(n: int) -> httpx.Response:
        base = (leased if n % 2 else leased_too).url  # retries reach both servers
        # The retry's own text is not asked again: the stored question is answered.
        body = ask("a retry's text", "jo", stream=n % 3 == 0)
        with httpx.Client(base_url=base, timeout=30) as client:
            return client.post(URL, json=body, headers=headers)

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(retry, range(10)))
    ids = set()
    for response in responses:
        assert response.status_code == 200, response.text
        assert text_of(response) == "echo: where is my parcel"
        ids.add(message_of(response))
    assert len(ids) == 1  # every retry: the same answer
    assert time.monotonic() - started >= LEASE * 0.9  # not before the holder's lease ended
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    assert leased.answerer.calls + leased_too.answerer.calls == 1

    with httpx.Client(base_url=leased.url, timeout=30) as client:
        again = client.post(URL, json=ask("where is my parcel", "jo"), headers=headers)
    assert again.json()["kefu"]["message"] in ids
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)


@pytest.mark.anyio
async def test_a_retry_and_a_widget_hello_answer_a_stored_question_once(
    leased: LiveServer, shop_a: Tenant, db: Database, db_url: str
) -> None:
    """The end user's widget (the same verified user) says hello while retries take the key
    over: the hello resumes unanswered questions too, and the claim lets only one answer."""
    die_after_storing(db_url, leased, shop_a, "order-9", "jo", "where is my parcel")
    leased.answerer.delay = 0.1  # answers that overlap the other side's arrival
    await anyio.sleep(LEASE * 1.1)
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "order-9"})
    secret = identity_secret(leased.services.settings.secret(), shop_a.licensee.id, 0)

    def retry() -> httpx.Response:
        with httpx.Client(base_url=leased.url, timeout=30) as client:
            return client.post(URL, json=ask("where is my parcel", "jo"), headers=headers)

    responses: list[httpx.Response] = []

    async def one_retry() -> None:
        responses.append(await anyio.to_thread.run_sync(retry))

    chat = await Chat.open(leased.ws_url, shop_a.keys.site_key)
    try:
        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(one_retry)
            await chat.send(
                {
                    "type": "hello",
                    "visitor": None,
                    "locale": "en",
                    "user": {"id": "jo", "hash": user_hash(secret, "jo")},
                }
            )
            await chat.expect("welcome")
    finally:
        await chat.conn.close()
    assert len({message_of(r) for r in responses}) == 1
    assert {text_of(r) for r in responses} == {"echo: where is my parcel"}
    assert stored(db, shop_a.licensee.id) == (1, 1, 1)
    assert leased.answerer.calls == 1


def test_a_retry_for_an_unanswered_question_that_cannot_be_answered_is_refused(
    leased: LiveServer, shop_a: Tenant, db: Database, db_url: str
) -> None:
    """Another end user's retry, or a retry after the question's conversation ended: 409,
    and nothing is answered or stored."""
    die_after_storing(db_url, leased, shop_a, "order-10", "jo", "where is my parcel")
    headers = bearer(shop_a.keys.secret_key, **{"Idempotency-Key": "order-10"})
    time.sleep(LEASE * 1.1)
    with httpx.Client(base_url=leased.url, timeout=30) as client:
        other = client.post(URL, json=ask("where is my parcel", "al"), headers=headers)
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "idempotency_key_in_use"
        assert "another user" in other.json()["error"]["message"]
        listed = db.read(
            lambda conn: conn.execute(
                select(_C.id).where(_C.licensee_id == shop_a.licensee.id)
            ).scalar_one()
        )
        closed = client.post(f"/v1/conversations/{listed}/close", headers=headers)
        assert closed.status_code == 200, closed.text
        time.sleep(LEASE * 1.1)  # the refused retry's own takeover lapses
        late = client.post(URL, json=ask("where is my parcel", "jo"), headers=headers)
        assert late.status_code == 409, late.text
        assert "ended" in late.json()["error"]["message"]
    assert stored(db, shop_a.licensee.id) == (1, 1, 0)
    assert leased.answerer.calls == 0
