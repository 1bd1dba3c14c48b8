"""Answerers tried in order until one answers: models first, the built-in answerer last."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

from bot.answerers.contract import Answerer, AnswerEvent, AnswerRequest, Delta, Final, Restart

log = logging.getLogger(__name__)


class LinkEndedWithoutFinal(RuntimeError):
    """A link's stream ended without its Final: treated like any other failure."""


class FallbackChain:
    """Asks each link in turn. A link that fails before streaming anything is passed over
    silently; one that fails after streaming is followed by Restart, then the next link."""

    def __init__(self, links: Sequence[Answerer]) -> None:
        if not links:
            raise ValueError("a fallback chain needs at least one link")
        self.links = tuple(links)
        self.name = "fallback(" + ", ".join(link.name for link in self.links) + ")"

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        error: Exception | None = None
        for position, link in enumerate(self.links):
            shown = False  # pieces of this link the client has and no Restart has taken back
            events = link.stream(request)
            try:
                async for event in events:
                    if isinstance(event, Delta):
                        shown = True
                    elif isinstance(event, Restart):
                        shown = False
                    yield event
                    if isinstance(event, Final):
                        return
                raise LinkEndedWithoutFinal(f"{link.name} ended without a Final")
            except Exception as exc:
                error = exc
                nxt = self.links[position + 1].name if position + 1 < len(self.links) else None
                log.warning(
                    "answerer %s failed (%s: %s)%s",
                    link.name,
                    type(exc).__name__,
                    str(exc)[:200],
                    f"; falling back to {nxt}" if nxt else "; no link left",
                )
                if shown and nxt:
                    how = getattr(exc, "outcome", None) or type(exc).__name__
                    yield Restart(f"{link.name} failed ({how}); {nxt} answers instead")
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()
        assert error is not None
        raise error
