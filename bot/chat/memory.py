"""What a session remembers of its conversation: the last turns an answerer is given as history.

Each turn is kept with the content filter's verdict on it, decided once when the turn is
remembered (not again on every answer): a turn the filter would stop never reaches a model, not
even as memory. A new conversation remembers nothing of the last.
"""

from __future__ import annotations

from collections import deque

from bot.answerers.contract import Turn
from core.moderation.matcher import Matcher

MEMORY_TURNS = 10


class Memory:
    def __init__(self, matcher: Matcher | None, turns: int = MEMORY_TURNS) -> None:
        self._matcher = matcher
        self._turns: deque[tuple[Turn, bool]] = deque(maxlen=turns)
        self.conversation_id: str | None = None  # the conversation the turns belong to

    def start(self, conversation_id: str | None) -> None:
        """Forget everything; from now on the turns belong to ``conversation_id``."""
        self._turns.clear()
        self.conversation_id = conversation_id

    def follow(self, conversation_id: str) -> None:
        """Start afresh if ``conversation_id`` is not the one remembered."""
        if self.conversation_id != conversation_id:
            self.start(conversation_id)

    def remember(self, turn: Turn, allowed: bool | None = None) -> None:
        """Keep ``turn``; ``allowed`` when already known, else the filter decides (remembering
        its verdict: the server's own sentences recur verbatim)."""
        if allowed is None:
            allowed = self._matcher is None or self._matcher.find_known(turn.text) is None
        self._turns.append((turn, allowed))

    def history(self) -> tuple[Turn, ...]:
        """The remembered turns a model may see, oldest first."""
        return tuple(turn for turn, allowed in self._turns if allowed)
