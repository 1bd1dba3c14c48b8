"""Fixtures of the chat-over-HTTP tests: two licensees on a live server, and their clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from bot.chat.services import build_services
from core.db.engine import Database
from testkit.answerers import EchoAnswerer, KeywordIndex
from testkit.servers import LiveServer, run_server, settings_for
from testkit.tenants import MakeTenant, Tenant


@pytest.fixture
def shop_a(make_tenant: MakeTenant) -> Tenant:
    return make_tenant("Shop A")


@pytest.fixture
def shop_b(make_tenant: MakeTenant) -> Tenant:
    return make_tenant("Shop B")


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=20) as client:
        yield client


@pytest.fixture
def openai_a(live: LiveServer, shop_a: Tenant) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{live.url}/v1", api_key=shop_a.keys.secret_key, max_retries=0) as c:
        yield c


@pytest.fixture
def tight_live(db: Database, db_url: str) -> Iterator[LiveServer]:
    """A live server whose end users may send two messages a minute."""
    settings = settings_for(db_url, rate_visitor_messages="2/min")
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)


@pytest.fixture
def key_tight_live(db: Database, db_url: str) -> Iterator[LiveServer]:
    """A live server whose keys may send three messages a minute, all end users together."""
    settings = settings_for(db_url, rate_key_messages="3/min")
    answerer = EchoAnswerer()
    services = build_services(settings, db, answerer=answerer, index_builder=KeywordIndex.build)
    for address in run_server(services):
        yield LiveServer(f"http://{address}", f"ws://{address}", services, answerer)
