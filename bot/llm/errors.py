"""The one error a model answerer raises: how the call ended, and a short, key-free detail."""

from __future__ import annotations

from bot.answerers.contract import CallOutcome


class ModelCallFailed(Exception):
    """A model call that produced no usable answer; a fallback chain asks its next link."""

    def __init__(self, outcome: CallOutcome, detail: str) -> None:
        super().__init__(f"{outcome.value}: {detail}")
        self.outcome = outcome
        self.detail = detail
