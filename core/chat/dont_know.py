"""The one rule of a "don't know": which robot replies did not answer the question.

A robot reply did not know when it was stored with ``resolved`` false: the answerer found no
entry it trusted or the model said it did not know, or the server answered in its place (the
apology after a failure, a refusal of the content filter). Every other robot reply answered.

The daily figures (``core.reporting.daily``: refresh and rebuild alike), the reports read from
them and the console's unanswered questions (``core.chat.unanswered``) all use this rule, so the
same rows give the same count everywhere.

It is a fact about the reply as it was made. Teaching the robot the question afterwards (a
similar phrasing, a new entry) does not change it: a past month's report is history and keeps
its "don't know" figures, while the unanswered list, a to-do list, leaves the taught question
out. Replies stored before ``resolved`` was kept were marked by migration 0020 from their sources
(no entry cited: did not know), which is what the reports had counted for them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false

from core.chat.frames import Role


def dont_know(messages: Any) -> ColumnElement[bool]:
    """SQL: the message (columns of ``messages``, e.g. ``table_of(Message).c``) is a robot
    reply that did not know. Written as ``resolved = false`` so that PostgreSQL and SQLite use
    the partial index ``ix_messages_unanswered``."""
    return and_(messages.role == Role.ROBOT.value, messages.resolved == false())


def answered(messages: Any) -> ColumnElement[bool]:
    """SQL: the message is a robot reply that answered (any robot reply that did not say it
    did not know)."""
    return and_(messages.role == Role.ROBOT.value, messages.resolved.is_not(False))
