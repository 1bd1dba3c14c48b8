"""An answerer that streams a language model's reply, grounded in the licensee's entries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.answerers.contract import (
    AnswerEvent,
    AnswerRequest,
    CallOutcome,
    CallRecord,
    Delta,
    Final,
)
from bot.llm.backends import BackendSpec, chat_model
from bot.llm.errors import ModelCallFailed
from bot.llm.guard import LeakGuard, normalize
from bot.llm.outcomes import classify
from bot.llm.prompt import build_prompt, to_messages

log = logging.getLogger(__name__)


class ModelAnswerer:
    """Answers through one model backend; raises ModelCallFailed when it cannot.

    Every call is reported once through ``request.report``, whatever its outcome, with the
    token counts the provider reported in the stream (zero when it reported none).
    """

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.name = f"{spec.producer}:{spec.model}"

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        spec = self.spec
        prompt = build_prompt(request)
        guard = LeakGuard()
        tally = _Tally()
        answer: list[str] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        first_deadline = start + spec.first_token_timeout
        total_deadline = start + spec.total_timeout
        first_at: float | None = None
        outcome = CallOutcome.OK
        chunks: AsyncIterator[Any] | None = None
        try:
            try:
                chunks = chat_model(spec).astream(to_messages(prompt))
            except Exception as exc:
                detail = f"the backend cannot be used: {type(exc).__name__}"
                raise ModelCallFailed(CallOutcome.HTTP_ERROR, detail) from None
            while True:
                waiting_first = first_at is None and first_deadline < total_deadline
                try:
                    async with asyncio.timeout_at(
                        first_deadline if waiting_first else total_deadline
                    ):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if waiting_first:
                        raise ModelCallFailed(
                            CallOutcome.TIMEOUT_FIRST_TOKEN,
                            f"no content within {spec.first_token_timeout:g} s",
                        ) from None
                    raise ModelCallFailed(
                        CallOutcome.TIMEOUT_TOTAL, f"not done within {spec.total_timeout:g} s"
                    ) from None
                tally.observe(chunk)
                text = chunk.content if isinstance(chunk.content, str) else chunk.text
                if not text:
                    continue
                if first_at is None:
                    first_at = loop.time()
                shown = guard.feed(text)
                if shown:
                    answer.append(shown)
                    yield Delta(shown)
            if not tally.finished:
                raise ModelCallFailed(CallOutcome.MALFORMED, "stream ended without a finish")
            if first_at is None:
                raise ModelCallFailed(CallOutcome.MALFORMED, "empty answer")
            rest = guard.flush()
            if rest:
                answer.append(rest)
                yield Delta(rest)
        except ModelCallFailed as exc:
            outcome = exc.outcome
            raise
        except (asyncio.CancelledError, GeneratorExit):
            outcome = CallOutcome.CANCELLED
            raise
        except Exception as exc:
            failed = classify(exc, got_content=first_at is not None, secret=spec.api_key)
            outcome = failed.outcome
            raise failed from None  # the original may quote request details; the detail won't
        finally:
            # Reported before closing the stream: a cancellation while closing must not lose it.
            end = loop.time()
            self._report(
                request,
                CallRecord(
                    provider=spec.account,
                    model=tally.model or spec.model,
                    input_tokens=tally.input_tokens,
                    output_tokens=tally.output_tokens,
                    cache_hit_tokens=tally.cache_hit_tokens,
                    latency_ms=round((end - start) * 1000),
                    first_token_ms=None if first_at is None else round((first_at - start) * 1000),
                    outcome=outcome,
                ),
            )
            if chunks is not None:
                await _close(chunks)
        said = normalize("".join(answer))
        yield Final(
            producer=spec.producer,
            model=tally.model or spec.model,
            sources=[hit.entry for hit in prompt.hits],
            resolved=(  # the top hit is the index's best: no second search
                bool(prompt.hits)
                and request.index.confident(prompt.hits[0])
                and normalize(prompt.dont_know) not in said
            ),
        )

    def _report(self, request: AnswerRequest, record: CallRecord) -> None:
        try:
            request.report(record)
        except Exception:
            log.exception("reporting a call to %s failed", self.name)


@dataclass
class _Tally:
    """What the provider said about the call in the stream's metadata."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_hit_tokens: int = 0
    model: str | None = None
    finished: bool = False

    def observe(self, chunk: Any) -> None:
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            # Providers report usage once, at the end (some repeat it cumulatively): keep the last.
            self.input_tokens = int(usage.get("input_tokens") or 0)
            self.output_tokens = int(usage.get("output_tokens") or 0)
            details = usage.get("input_token_details") or {}
            self.cache_hit_tokens = sum(
                int(v or 0) for k, v in details.items() if k.endswith("cache_read")
            )
        meta = getattr(chunk, "response_metadata", None) or {}
        name = meta.get("model_name") or meta.get("model")
        if isinstance(name, str) and name:
            self.model = name
        if meta.get("finish_reason") or meta.get("done") is True or meta.get("done_reason"):
            self.finished = True


async def _close(chunks: object) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:  # the call's outcome is already known; closing is best effort
        log.debug("closing a model stream failed", exc_info=True)
