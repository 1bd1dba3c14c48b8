"""The visitor messages this process is storing or answering, so no other tab answers them too.

A message is claimed while it is being stored (a duplicate send from another tab may be on its
way), while its answer runs, and while a hello decides to resume it. A hello that finds a stored
but unanswered question answers it only when nobody holds a claim on it. Claims count: the same
message may be held several times at once (fifty sends of one id from five tabs) and is free
again when every holder has let go.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple


class MessageKey(NamedTuple):
    """One visitor message, by the client's id."""

    licensee_id: str
    visitor_id: str
    client_id: str


class Claims:
    def __init__(self) -> None:
        self._holders: Counter[MessageKey] = Counter()

    def __len__(self) -> int:
        return len(self._holders)

    def held(self, key: MessageKey) -> bool:
        return key in self._holders

    def claim(self, key: MessageKey) -> Claim:
        """Hold ``key`` until the returned claim is released (or its ``with`` block ends)."""
        self._holders[key] += 1
        return Claim(self, key)

    def _release(self, key: MessageKey) -> None:
        self._holders[key] -= 1
        if self._holders[key] <= 0:
            del self._holders[key]


@dataclass(eq=False, slots=True)
class Claim:
    """One hold on a message; releasing it twice lets go only once."""

    claims: Claims
    key: MessageKey
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.claims._release(self.key)

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.release()
