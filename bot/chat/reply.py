"""One answer on its way to the widget: coalesced pieces, restarts, and the streaming filter.

``Reply.stream`` passes an answerer's events on as ``reply.delta`` frames, stopping at the first
blocked term. An answer the answerer knew whole before its first piece (``Delta.whole``) is
checked once, as a whole; anything else goes through the filter's guard piece by piece, so no
term ever reaches the widget split across two pieces.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.answerers.contract import AnswerEvent, Delta, Final, Restart
from bot.chat.coalesce import DEFAULT_WINDOW, DeltaCoalescer
from core.chat.frames import ReplyDelta, ReplyRestart, ServerFrame
from core.moderation.matcher import Matcher, StreamGuard, clean_cut


class BrokenAnswer(Exception):
    """An answerer did not keep its word (``Delta.whole``): the reply becomes the safe answer."""


class Reply:
    def __init__(
        self,
        send: Callable[[ServerFrame], Awaitable[None]],
        reply_id: str,
        window: float = DEFAULT_WINDOW,
    ) -> None:
        self._send = send
        self.reply_id = reply_id
        self._parts: list[str] = []
        self._shown = False  # a piece has left for the widget
        self._deltas = DeltaCoalescer(self._send_delta, window)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def _send_delta(self, text: str) -> None:
        self._shown = True
        await self._send(ReplyDelta(reply=self.reply_id, text=text))

    async def add(self, text: str) -> None:
        if text:
            self._parts.append(text)
            await self._deltas.add(text)

    async def restart(self) -> None:
        """Forget the pieces so far; tell the widget if it has seen any."""
        self._deltas.discard()
        await self._deltas.close()
        self._parts.clear()
        if self._shown:
            self._shown = False
            await self._send(ReplyRestart(reply=self.reply_id))

    async def replace(self, text: str) -> None:
        if text != self.text:
            await self.restart()
            await self.add(text)

    async def close(self) -> None:
        """Send what is still pending."""
        await self._deltas.close()

    async def stream(
        self, events: AsyncIterator[AnswerEvent], matcher: Matcher | None
    ) -> tuple[Final | None, str | None]:
        """Pass an answerer's events on; returns its Final, or the blocked term."""
        guard = StreamGuard(matcher) if matcher is not None else None
        # A whole answer's pieces are shown as they come, as far as a cut after a separator (a
        # prefix cut there holds no term the whole does not); ``at``: how far they got,
        # ``held``: pieces since the last such cut.
        checked: str | None = None
        at = 0
        held: list[str] = []
        final: Final | None = None
        async with contextlib.aclosing(events) as stream:  # type: ignore[type-var]
            async for event in stream:
                if isinstance(event, Delta):
                    if guard is None or matcher is None:
                        await self.add(event.text)
                        continue
                    if checked is None and event.whole and guard.fed == 0 and not self._parts:
                        found = matcher.find_known(event.whole)
                        if found is not None:
                            return None, found.term
                        checked, at = event.whole, 0
                    if checked is not None:
                        if event.whole is not checked or not checked.startswith(event.text, at):
                            raise BrokenAnswer("a piece left the whole answer it announced")
                        at += len(event.text)
                        held.append(event.text)
                        if at == len(checked) or clean_cut(checked, at):
                            await self.add("".join(held))
                            held.clear()
                        continue
                    safe = guard.feed(event.text)
                    if guard.blocked is not None:
                        return None, guard.blocked.term
                    await self.add(safe)
                elif isinstance(event, Restart):
                    guard = StreamGuard(matcher) if matcher is not None else None
                    checked, held = None, []
                    await self.restart()
                else:
                    final = event
        if checked is not None and at != len(checked):
            raise BrokenAnswer("the answer ended before the whole it announced")
        if guard is not None:
            rest = guard.finish()
            if guard.blocked is not None:
                return None, guard.blocked.term
            await self.add(rest)
        return final, None
