"""Backend specs, the per-process chat models and their shared connections, and start-up cost."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bot.answerers.contract import AnswerRequest, CallOutcome, CallRecord
from bot.llm import (
    BackendSpec,
    ModelAnswerer,
    ModelCallFailed,
    aclose_clients,
    chat_model,
)
from bot.llm.backends import Provider
from testkit.answerers import KeywordIndex
from testkit.providers import FakeOllama, FakeOpenAI, Script, collect

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("model_clients")]
ROOT = Path(__file__).resolve().parents[2]


def request(records: list[CallRecord]) -> AnswerRequest:
    return AnswerRequest("lic_a", "hello", "en", (), KeywordIndex.build([]), report=records.append)


async def test_importing_the_package_does_not_import_langchain() -> None:
    code = (
        "import sys, bot.llm\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "{'langchain_core', 'langchain_openai', 'langchain_ollama', 'openai', 'ollama'}]\n"
        "assert not heavy, heavy\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, cwd=ROOT)
    assert await asyncio.wait_for(process.wait(), 60) == 0


async def test_spec_hides_its_key_and_checks_itself() -> None:
    spec = BackendSpec("openai", "http://127.0.0.1:9/v1", "m", api_key="sk-hidden-42")
    assert "sk-hidden-42" not in repr(spec) and "sk-hidden-42" not in str(spec)
    assert spec.producer == "openai-compatible"
    assert BackendSpec("ollama", "http://127.0.0.1:9", "m").producer == "ollama"
    for bad in (
        {"provider": "anthropic"},
        {"model": ""},
        {"base_url": ""},
        {"base_url": "127.0.0.1:11434"},
        {"first_token_timeout": 0},
        {"total_timeout": -1},
    ):
        fields = {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
        with pytest.raises(ValueError):
            BackendSpec(**(fields | bad))


async def test_one_model_per_spec_and_shared_connections(
    fakes: tuple[FakeOpenAI, FakeOllama],
) -> None:
    records: list[CallRecord] = []
    firsts = [chat_model(fake.spec("a")) for fake in fakes]
    for fake, first in zip(fakes, firsts, strict=True):
        assert chat_model(fake.spec("a")) is first
        assert chat_model(fake.spec("b")) is not first
        # Every model of a kind shares one connection pool: b's call goes over a's connection.
        await collect(ModelAnswerer(fake.spec("a")), request(records))
        await collect(ModelAnswerer(fake.spec("b")), request(records))
        assert [(c.model, c.connection) for c in fake.calls] == [("a", 1), ("b", 1)]

    await aclose_clients()
    assert all(chat_model(f.spec("a")) is not m for f, m in zip(fakes, firsts, strict=True))


async def test_keys_go_only_where_they_belong(
    fakes: tuple[FakeOpenAI, FakeOllama], monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_fake, ollama_fake = fakes
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    records: list[CallRecord] = []
    await collect(ModelAnswerer(openai_fake.spec("keyless")), request(records))
    await collect(ModelAnswerer(openai_fake.spec("keyed", api_key="sk-licensed")), request(records))
    await collect(ModelAnswerer(ollama_fake.spec(api_key="ol-key")), request(records))
    keyless, keyed = openai_fake.calls
    assert keyless.headers["authorization"] == "Bearer unused"
    assert keyed.headers["authorization"] == "Bearer sk-licensed"
    assert ollama_fake.calls[0].headers["authorization"] == "Bearer ol-key"
    assert [r.outcome for r in records] == [CallOutcome.OK] * 3


@pytest.mark.parametrize("provider", ["openai", "ollama"])
async def test_every_call_is_reported_once_even_when_the_backend_cannot_be_built(
    provider: Provider,
) -> None:
    # A NUL in the host passes the spec's own check; both client libraries refuse it.
    spec = BackendSpec(provider, "http://\x00/v1", "m")
    records: list[CallRecord] = []
    with pytest.raises(ModelCallFailed) as failed:
        await collect(ModelAnswerer(spec), request(records))
    assert failed.value.outcome is CallOutcome.HTTP_ERROR
    assert failed.value.detail.startswith("the backend cannot be used")
    assert [r.outcome for r in records] == [CallOutcome.HTTP_ERROR]


async def test_a_bad_url_is_an_http_error() -> None:
    records: list[CallRecord] = []
    spec = BackendSpec("openai", "http://", "m")
    with pytest.raises(ModelCallFailed) as failed:
        await collect(ModelAnswerer(spec), request(records))
    assert failed.value.outcome is CallOutcome.HTTP_ERROR
    assert [r.outcome for r in records] == [CallOutcome.HTTP_ERROR]


async def test_the_reported_model_name_wins(fakes: tuple[FakeOpenAI, FakeOllama]) -> None:
    openai_fake, ollama_fake = fakes
    openai_fake.default = Script(model="gpt-4o-2024-08-06")
    ollama_fake.default = Script(model="llama3.1:8b-instruct")
    records: list[CallRecord] = []
    a = await collect(ModelAnswerer(openai_fake.spec("gpt-4o")), request(records))
    b = await collect(ModelAnswerer(ollama_fake.spec("llama3.1")), request(records))
    assert (a.final.model, b.final.model) == ("gpt-4o-2024-08-06", "llama3.1:8b-instruct")
    assert [r.model for r in records] == ["gpt-4o-2024-08-06", "llama3.1:8b-instruct"]
