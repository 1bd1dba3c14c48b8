"""The live chat sessions of this process, by licensee, visitor and key, for pushes and closes."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from bot.chat.wire import ended_frame
from core.chat import conversations as units

if TYPE_CHECKING:
    from bot.chat.session import ChatSession

log = logging.getLogger("kefu.chat")


class Hub:
    def __init__(self) -> None:
        self._by_licensee: dict[str, set[ChatSession]] = defaultdict(set)
        self._by_visitor: dict[tuple[str, str], set[ChatSession]] = defaultdict(set)

    def __len__(self) -> int:
        return sum(len(sessions) for sessions in self._by_licensee.values())

    def add(self, session: ChatSession) -> None:
        self._by_licensee[session.licensee_id].add(session)

    def bind_visitor(self, session: ChatSession) -> None:
        """File ``session`` under its visitor (known once its hello is read)."""
        assert session.visitor_id is not None
        self._by_visitor[(session.licensee_id, session.visitor_id)].add(session)

    def remove(self, session: ChatSession) -> None:
        self._discard(self._by_licensee, session.licensee_id, session)
        if session.visitor_id is not None:
            self._discard(self._by_visitor, (session.licensee_id, session.visitor_id), session)

    @staticmethod
    def _discard(index: dict[Any, set[ChatSession]], key: Any, session: ChatSession) -> None:
        sessions = index.get(key)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del index[key]

    def of_visitor(self, licensee_id: str, visitor_id: str) -> list[ChatSession]:
        return list(self._by_visitor.get((licensee_id, visitor_id), ()))

    def of_licensee(self, licensee_id: str) -> list[ChatSession]:
        return list(self._by_licensee.get(licensee_id, ()))

    def licensee_ids(self) -> list[str]:
        return list(self._by_licensee)

    def key_ids(self) -> set[str]:
        """Every key an open session was opened with (site keys and secret keys)."""
        return {
            k for sessions in self._by_licensee.values() for s in sessions for k in s.credentials
        }

    def of_key(self, key_id: str) -> list[ChatSession]:
        """The sessions opened with ``key_id``, as their site key or their secret key."""
        sessions = self._by_licensee.values()
        return [s for of_one in sessions for s in of_one if key_id in s.credentials]

    async def push_ended(self, ending: units.Ending, also: ChatSession | None = None) -> None:
        """Tell every session of the end user (and ``also``, when given) that their unit is over."""
        frame = ended_frame(ending)
        sessions = set(self.of_visitor(ending.licensee_id, ending.visitor_id))
        if also is not None:
            sessions.add(also)
        for session in sessions:
            session.conversation = None
            try:
                await session.send(frame)
            except Exception:
                log.debug("push to a closing socket failed", exc_info=True)
