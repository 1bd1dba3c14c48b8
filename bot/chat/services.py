"""Everything the chat server shares across connections, built once per process."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from bot.answerers.contract import Answerer, KnowledgeIndex
from bot.answerers.index_cache import IndexCache
from bot.answerers.registry import AnswererRegistry
from bot.chat.hub import Hub
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from core.licensing.maintenance import Window, current_and_upcoming
from core.moderation.matcher import Matcher, load_word_list
from core.ratelimit import Rate, RateLimiter, make_rate_limiter
from core.settings import Settings
from core.types import utcnow

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    visitor_messages: Rate
    key_messages: Rate
    visitor_conversations: Rate
    key_conversations: Rate

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            visitor_messages=Rate.parse(settings.rate_visitor_messages),
            key_messages=Rate.parse(settings.rate_key_messages),
            visitor_conversations=Rate.parse(settings.rate_visitor_conversations),
            key_conversations=Rate.parse(settings.rate_key_conversations),
        )


@dataclass
class ChatServices:
    settings: Settings
    db: Database
    answerers: AnswererRegistry
    content_filter: Matcher | None
    index_cache: IndexCache
    limiter: RateLimiter
    limits: Limits
    hub: Hub = field(default_factory=Hub)
    clock: Callable[[], datetime] = utcnow
    # Maintenance windows not yet over, refreshed by the licence watcher (read on every hello).
    maintenance: list[Window] = field(default_factory=list)
    # (licensee, visitor, client id) of the visitor messages this process is storing or
    # answering, with how many sends of each are under way: a hello never answers them again.
    answering: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    async def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a group commit; returns once its transaction is durable."""
        return await self.db.write(fn)

    def load_maintenance(self) -> None:
        with self.db.read_session() as session:
            self.maintenance = current_and_upcoming(session, self.clock())


def build_default_index(entries: Sequence[KbEntry]) -> KnowledgeIndex:
    """Build the built-in retrieval index; imported on first use so that start-up stays fast."""
    from bot.answerers.retrieval import KnowledgeBaseIndex

    return KnowledgeBaseIndex.build(entries)


def build_services(
    settings: Settings,
    db: Database,
    *,
    answerer: Answerer | None = None,
    index_builder: Callable[[Sequence[KbEntry]], KnowledgeIndex] | None = None,
) -> ChatServices:
    return ChatServices(
        settings=settings,
        db=db,
        answerers=AnswererRegistry(settings, db, fixed=answerer),
        content_filter=Matcher(load_word_list(settings.filter_words_file)),
        index_cache=IndexCache(db, index_builder or build_default_index),
        limiter=make_rate_limiter(settings.redis_url),
        limits=Limits.from_settings(settings),
    )
