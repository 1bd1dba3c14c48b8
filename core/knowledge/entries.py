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
    answer_en: str = ""  # the answer in English, when ``answer`` is in another language


@dataclass(frozen=True, slots=True)
class KbEntry:
    """One stored FAQ entry of one licensee."""

    id: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())
    answer_en: str = ""

    def answer_in(self, language: str) -> str:
        """The answer for a question asked in ``language`` (``zh`` or ``en``): the English one
        to an English question when the entry has it, else the entry's answer."""
        return self.answer_en if language == "en" and self.answer_en else self.answer

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The standard question followed by every alternative phrasing."""
        return (self.question, *self.similar)
