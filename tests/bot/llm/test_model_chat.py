"""Model backends end to end: a real server, a fake provider on loopback, the widget's frames.

Every answer is grounded, streamed and labelled with the model that actually answered; every
model call lands in the token ledger with the provider's own counts; a failing model ends in
one coherent answer from the next link; the content filter guards questions and answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import anyio
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.chat.services import ChatServices, build_services
from core.db.engine import Database
from core.db.tables import ContentBlock, Conversation, LicenseeModel, ModelCall, TokenDraw
from core.knowledge.entries import KbRow
from core.knowledge.store import import_rows
from core.ledger import tokens
from core.licensing import model_chain as model_config
from core.types import utcnow
from testkit.chat_client import Chat
from testkit.providers import FakeOpenAI, Script
from testkit.servers import run_server, settings_for
from testkit.tenants import MakeTenant, Tenant

pytestmark = pytest.mark.anyio

REFUND = KbRow(
    "How do I get a refund?",
    "Open the order, choose Refund and give a reason; the money is back within 3 days.",
    ("refund my order", "money back"),
)
ANSWER = "You can ask for a refund from the order page; the money is back within 3 days."


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.default = Script(reply=ANSWER, input_tokens=321, output_tokens=45, cached_tokens=300)
        yield server


class Served:
    def __init__(self, services: ChatServices, ws_url: str) -> None:
        self.services = services
        self.ws_url = ws_url

    def one(self, stmt: Any) -> Any:
        with self.services.db.read_session() as session:
            return session.exec(stmt).one()

    async def first(self, stmt: Any) -> Any:
        """The first row once there is one (the ledger is written just after reply.end)."""
        for _ in range(200):
            with self.services.db.read_session() as session:
                row = session.exec(stmt).first()
            if row is not None:
                return row
            await anyio.sleep(0.02)
        raise AssertionError(f"no row for {stmt}")


@pytest.fixture
def served(db: Database, db_url: str, fake: FakeOpenAI) -> Iterator[Served]:
    settings = settings_for(
        db_url,
        model_base_url=fake.base_url,
        model_name=fake.default_model,
        model_api_key="sk-platform-key",
        model_first_token_timeout_seconds=2.0,
        model_timeout_seconds=5.0,
    )
    services = build_services(settings, db)
    for address in run_server(services):
        yield Served(services, f"ws://{address}")


def tenant_with_kb(make_tenant: MakeTenant, db: Database, name: str = "Shop") -> Tenant:
    t = make_tenant(name=name)
    with db.session() as session:
        import_rows(session, t.licensee.id, [REFUND], utcnow())
        session.commit()
    return t


async def ask(served: Served, t: Tenant, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    chat = await Chat.start(served.ws_url, t.keys.site_key, locale="en")
    ack, frames = await chat.ask("m1", text)
    await chat.close()
    return ack, frames


def shown(frames: list[dict[str, Any]]) -> str:
    """The text a widget shows: the pieces after the last reply.restart."""
    text = ""
    for f in frames:
        if f["type"] == "reply.restart":
            text = ""
        elif f["type"] == "reply.delta":
            text += f["text"]
    return text


async def test_the_model_answers_grounded_labelled_and_ledgered(
    served: Served, fake: FakeOpenAI, make_tenant: MakeTenant, db: Database
) -> None:
    t = tenant_with_kb(make_tenant, db)
    host = fake.base_url.split("//")[1].split("/")[0]
    with db.session() as session:  # a package for this provider account, redeemed
        package = tokens.add_package(
            session,
            provider=host,
            tokens=1_000_000,
            price=Decimal("20.00"),
            currency="CNY",
            name="test",
            purchased_at=utcnow() - timedelta(days=1),
            now=utcnow(),
        )
        tokens.redeem(session, package.id, utcnow())
        session.commit()
        package_id = package.id

    ack, frames = await ask(served, t, "How can I get my money back?")
    end = frames[-1]
    assert end["type"] == "reply.end" and end["text"] == ANSWER == shown(frames)
    assert end["ai"]["producer"] == "openai-compatible"
    assert end["ai"]["model"] == fake.default_model
    assert end["ai"]["content_id"] == end["reply"]
    assert [s["question"] for s in end["sources"]] == [REFUND.question]

    call = fake.calls[-1]
    assert call.headers["authorization"] == "Bearer sk-platform-key"
    assert REFUND.answer in call.system  # grounded in the licensee's own entry

    row = await served.first(select(ModelCall))
    assert (row.input_tokens, row.output_tokens, row.cache_hit_tokens) == (321, 45, 300)
    assert row.licensee_id == t.licensee.id and row.conversation_id == ack["conversation"]["id"]
    assert row.reply_id == end["reply"] and row.outcome == "ok" and row.provider == host
    draw = served.one(select(TokenDraw))
    assert draw.package_id == package_id and draw.tokens == 321 + 45
    assert draw.cost == Decimal("20.00") * 366 / 1_000_000 == row.cost


async def test_a_stream_cut_midway_ends_in_one_answer_from_the_built_in_answerer(
    served: Served, fake: FakeOpenAI, make_tenant: MakeTenant, db: Database
) -> None:
    t = tenant_with_kb(make_tenant, db)
    fake.default = Script(reply=ANSWER * 3, cut_after=40)
    _ack, frames = await ask(served, t, "How do I get a refund?")
    types = [f["type"] for f in frames]
    assert "reply.restart" in types  # the partial answer was shown, then replaced
    end = frames[-1]
    assert end["text"] == REFUND.answer == shown(frames)
    assert end["ai"]["model"] == "kefu-kb-1" and end["ai"]["producer"] == "kefu"
    assert served.one(select(func.count()).select_from(Conversation)) == 1
    row = await served.first(select(ModelCall))
    assert row.outcome == "malformed"


async def test_a_retired_model_falls_back_without_a_restart(
    served: Served, fake: FakeOpenAI, make_tenant: MakeTenant, db: Database
) -> None:
    t = tenant_with_kb(make_tenant, db)
    fake.default = Script(retired=True)
    _ack, frames = await ask(served, t, "How do I get a refund?")
    assert "reply.restart" not in [f["type"] for f in frames]
    assert frames[-1]["text"] == REFUND.answer and frames[-1]["ai"]["model"] == "kefu-kb-1"
    assert (await served.first(select(ModelCall))).outcome == "retired"


async def test_a_licensee_chain_replaces_the_platform_model(
    served: Served, make_tenant: MakeTenant, db: Database
) -> None:
    own, other = tenant_with_kb(make_tenant, db, "Own"), tenant_with_kb(make_tenant, db, "Other")
    with FakeOpenAI() as mine:
        mine.default = Script(reply="Answered by the licensee's own model.")
        with db.session() as session:
            model_config.set_link(
                session,
                served.services.settings,
                own.licensee.id,
                slot=1,
                provider="openai",
                base_url=mine.base_url,
                model="own-model",
                api_key="sk-own-secret",
                first_token_timeout=2,
                total_timeout=5,
                now=utcnow(),
            )
            session.commit()
        sealed = served.one(select(LicenseeModel.api_key_sealed))
        assert sealed and "sk-own-secret" not in sealed  # sealed at rest

        _a, frames = await ask(served, own, "refund?")
        assert frames[-1]["text"] == "Answered by the licensee's own model."
        assert frames[-1]["ai"]["model"] == "own-model"
        assert mine.calls[-1].headers["authorization"] == "Bearer sk-own-secret"
        _a, frames = await ask(served, other, "refund?")
        assert frames[-1]["text"] == ANSWER  # the platform model, as before


async def test_a_blocked_question_is_refused_without_a_model_call(
    served: Served, fake: FakeOpenAI, make_tenant: MakeTenant, db: Database
) -> None:
    t = tenant_with_kb(make_tenant, db)
    _ack, frames = await ask(served, t, "Any good online  casino here?")
    end = frames[-1]
    assert end["text"].startswith("Sorry, I can't help with that")
    assert end["ai"]["model"] == "kefu-filter"
    assert fake.calls == []
    block = await served.first(select(ContentBlock))
    assert (block.direction, block.term) == ("question", "online casino")
    assert served.one(select(func.count()).select_from(ModelCall)) == 0


async def test_a_blocked_answer_never_reaches_the_widget(
    served: Served, fake: FakeOpenAI, make_tenant: MakeTenant, db: Database
) -> None:
    t = tenant_with_kb(make_tenant, db)
    fake.default = Script(reply="Sure! The best gambling site is here, and refunds take 3 days.")
    _ack, frames = await ask(served, t, "How do I get a refund?")
    sent = "".join(f["text"] for f in frames if f["type"] == "reply.delta")
    assert "gambl" not in sent.lower()
    end = frames[-1]
    assert end["text"].startswith("Sorry, that answer was withheld") and "gambl" not in end["text"]
    assert end["ai"]["model"] == "kefu-filter"
    block = await served.first(select(ContentBlock))
    assert (block.direction, block.term, block.model) == (
        "answer",
        "gambling site",
        fake.default_model,
    )
    # The call is still in the ledger; the stream was stopped at the block (the provider stops
    # generating too), so it is recorded as cancelled.
    assert (await served.first(select(ModelCall))).outcome == "cancelled"


async def test_blocked_turns_and_ended_conversations_never_reach_the_model(
    served: Served, fake: FakeOpenAI, make_tenant: MakeTenant, db: Database
) -> None:
    t = tenant_with_kb(make_tenant, db)
    chat = await Chat.start(served.ws_url, t.keys.site_key, locale="en")
    await chat.ask("m1", "Any good online casino here?")
    await chat.ask("m2", "How do I get a refund?")
    request = fake.calls[-1]
    assert "casino" not in str(request.messages).lower()
    assert request.texts("user")[-1] == "How do I get a refund?"
    await chat.send({"type": "close"})
    await chat.expect("ended")
    await chat.ask("m3", "And the shipping?")  # a new conversation: no memory of the last
    assert fake.calls[-1].texts("user") == ["And the shipping?"]
    assert fake.calls[-1].texts("assistant") == []
    await chat.close()
