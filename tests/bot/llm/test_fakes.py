"""The fake providers are honest: the official OpenAI and Ollama clients work against them."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import ollama
import openai
import pytest

from testkit.providers import FakeOllama, FakeOpenAI, Script, tokens

pytestmark = pytest.mark.anyio

REPLY = "Orders ship within 24 hours. 付款后48小时内发货。"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Script(reply=REPLY)) as fake:
        yield fake


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(Script(reply=REPLY)) as fake:
        yield fake


@pytest.mark.parametrize(
    "text", ["", "one", " two  words ", "付款后48小时内发货。", "Mixed 中文 and English\nlines."]
)
def test_tokens_join_back(text: str) -> None:
    assert "".join(tokens(text)) == text
    assert all(tokens(text))


async def test_openai_client_streams_with_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        "gpt-x", Script(reply=REPLY, input_tokens=321, cached_tokens=64, model="gpt-x-2025")
    )
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key="x", max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="gpt-x",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
        texts: list[str] = []
        finish: list[str] = []
        usage = None
        async for chunk in stream:
            assert chunk.model == "gpt-x-2025"
            if chunk.choices:
                texts.append(chunk.choices[0].delta.content or "")
                if chunk.choices[0].finish_reason:
                    finish.append(chunk.choices[0].finish_reason)
            if chunk.usage is not None:
                usage = chunk.usage
    finally:
        await client.close()
    assert "".join(texts) == REPLY
    assert finish == ["stop"]
    assert usage is not None
    assert usage.prompt_tokens == 321
    assert usage.completion_tokens == len(tokens(REPLY))
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 64
    call = fake_openai.calls[-1]
    assert call.body["stream_options"] == {"include_usage": True}
    assert call.system == "Be brief."
    assert call.texts("user") == ["Hi"]
    assert (call.input_tokens, call.output_tokens, call.cached_tokens) == (
        321,
        len(tokens(REPLY)),
        64,
    )


async def test_openai_client_without_stream_and_models(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("old-model", Script(retired=True))
    fake_openai.script("gpt-y", Script(reply="Fine.", input_tokens=5))
    async with openai.AsyncOpenAI(
        base_url=fake_openai.base_url, api_key="x", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model="gpt-y", messages=[{"role": "user", "content": "Hi"}]
        )
        assert completion.choices[0].message.content == "Fine."
        assert completion.usage is not None and completion.usage.prompt_tokens == 5
        models = [m.id async for m in client.models.list()]
        assert "gpt-y" in models and "old-model" not in models

        with pytest.raises(openai.NotFoundError) as retired:
            await client.chat.completions.create(
                model="old-model", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        assert retired.value.code == "model_not_found"

        fake_openai.enqueue(Script(status=500))
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model="gpt-y", messages=[{"role": "user", "content": "Hi"}], stream=True
            )


async def test_openai_client_sees_a_cut_stream_and_a_malformed_chunk(
    fake_openai: FakeOpenAI,
) -> None:
    async with openai.AsyncOpenAI(
        base_url=fake_openai.base_url, api_key="x", max_retries=0
    ) as client:
        for script, error in (
            (Script(reply=REPLY, cut_after=2), openai.APIConnectionError),
            (Script(reply=REPLY, malformed_after=2), ValueError),
        ):
            fake_openai.enqueue(script)
            stream = await client.chat.completions.create(
                model="gpt-y", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            seen: list[str] = []
            with pytest.raises(error):
                async for chunk in stream:
                    if chunk.choices:
                        seen.append(chunk.choices[0].delta.content or "")
            assert "".join(seen) == "".join(tokens(REPLY)[:2])


async def test_ollama_client_streams(fake_ollama: FakeOllama) -> None:
    fake_ollama.script("llama-x", Script(reply=REPLY, input_tokens=77, output_tokens=9))
    async with ollama.AsyncClient(host=fake_ollama.base_url) as client:
        parts = [
            part
            async for part in await client.chat(
                model="llama-x", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        ]
        assert "".join(p.message.content or "" for p in parts) == REPLY
        assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
        assert parts[-1].prompt_eval_count == 77
        assert parts[-1].eval_count == 9
        assert parts[-1].done_reason == "stop"

        whole = await client.chat(model="llama-x", messages=[{"role": "user", "content": "Hi"}])
        assert whole.message.content == REPLY and whole.done

        listed = await client.list()
        assert "llama-x" in [m.model for m in listed.models]

        fake_ollama.enqueue(Script(retired=True))
        with pytest.raises(ollama.ResponseError) as retired:
            await client.chat(model="gone", messages=[{"role": "user", "content": "Hi"}])
        assert retired.value.status_code == 404
    call = fake_ollama.calls[0]
    assert call.path == "/api/chat" and call.texts("user") == ["Hi"]
    assert (call.input_tokens, call.output_tokens) == (77, 9)


async def test_scripts_by_call_come_before_scripts_by_model(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("m", Script(reply="by model"))
    fake_openai.enqueue(Script(reply="first"), model="m")
    fake_openai.enqueue(Script(reply="any"))
    async with openai.AsyncOpenAI(
        base_url=fake_openai.base_url, api_key="x", max_retries=0
    ) as client:
        replies = []
        for model in ("other", "m", "m", "other"):
            completion = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hi"}]
            )
            replies.append(completion.choices[0].message.content)
    assert replies == ["any", "first", "by model", REPLY]


async def test_a_stalled_stream_sends_its_pieces_then_nothing(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Script(reply=REPLY, stall_after=2)
    async with openai.AsyncOpenAI(
        base_url=fake_openai.base_url, api_key="x", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="gpt-y", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        chunks = aiter(stream)
        seen: list[str] = []
        while len(seen) < 2:
            chunk = await anext(chunks)
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
        with anyio.move_on_after(0.3) as waited:
            await anext(chunks)
        assert waited.cancelled_caught  # neither a third piece nor the end of the stream
        await stream.close()
    assert seen == tokens(REPLY)[:2]
    assert fake_openai.calls[0].pieces_sent == 2


async def test_each_call_knows_its_connection(fake_ollama: FakeOllama) -> None:
    for _ in range(2):
        async with ollama.AsyncClient(host=fake_ollama.base_url) as client:
            for _ in range(2):
                await client.chat(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert [c.connection for c in await fake_ollama.received(4)] == [1, 1, 2, 2]
