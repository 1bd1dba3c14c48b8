"""The live connections of this process, by licensee, visitor and key, for pushes and closes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.chat.frames import ServerFrame


@dataclass(eq=False)
class Link:
    """One open WebSocket, as the hub sees it (transport hidden behind two callables)."""

    licensee_id: str
    key_id: str
    send: Callable[[ServerFrame], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    visitor_id: str | None = None
    conversation: Any = None  # the ConvRef this socket believes is open, for pushes on end
    extra: dict[str, Any] = field(default_factory=dict)


class Hub:
    def __init__(self) -> None:
        self._by_licensee: dict[str, set[Link]] = defaultdict(set)
        self._by_visitor: dict[tuple[str, str], set[Link]] = defaultdict(set)

    def __len__(self) -> int:
        return sum(len(links) for links in self._by_licensee.values())

    def add(self, link: Link) -> None:
        self._by_licensee[link.licensee_id].add(link)

    def bind_visitor(self, link: Link, visitor_id: str) -> None:
        link.visitor_id = visitor_id
        self._by_visitor[(link.licensee_id, visitor_id)].add(link)

    def remove(self, link: Link) -> None:
        self._discard(self._by_licensee, link.licensee_id, link)
        if link.visitor_id is not None:
            self._discard(self._by_visitor, (link.licensee_id, link.visitor_id), link)

    @staticmethod
    def _discard(index: dict[Any, set[Link]], key: Any, link: Link) -> None:
        links = index.get(key)
        if links is not None:
            links.discard(link)
            if not links:
                del index[key]

    def of_visitor(self, licensee_id: str, visitor_id: str) -> list[Link]:
        return list(self._by_visitor.get((licensee_id, visitor_id), ()))

    def of_licensee(self, licensee_id: str) -> list[Link]:
        return list(self._by_licensee.get(licensee_id, ()))

    def licensee_ids(self) -> list[str]:
        return list(self._by_licensee)

    def key_ids(self) -> set[str]:
        return {link.key_id for links in self._by_licensee.values() for link in links}

    def of_key(self, key_id: str) -> list[Link]:
        return [
            link for links in self._by_licensee.values() for link in links if link.key_id == key_id
        ]
