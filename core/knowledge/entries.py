"""Knowledge-base entries as plain values: what a licensee's FAQ holds, independent of storage."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class KbRow:
    """One FAQ entry as read from a file or written by an operator (no identity yet)."""

    question: str
    answer: str
    similar: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KbEntry:
    """One stored FAQ entry of one licensee."""

    id: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The standard question followed by every alternative phrasing."""
        return (self.question, *self.similar)
