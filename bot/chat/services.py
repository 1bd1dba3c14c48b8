"""Everything the chat server shares across connections, built once per process.

Sessions reach storage only through ``store`` (a ``ChatStore``); ``db`` is kept for the socket's
handshake, the licensee API and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.answerers.contract import Answerer, KnowledgeIndex
from bot.answerers.index_cache import IndexCache
from bot.answerers.registry import AnswererRegistry
from bot.chat.claims import Claims, SharedClaims
from bot.chat.desk import Desk
from bot.chat.hub import Hub
from bot.chat.limits import Limits
from bot.chat.penalties import Penalties
from bot.chat.signals import ending_data
from bot.chat.store import ChatStore, DatabaseStore
from bot.chat.workpool import WorkPool
from core.bus import Bus, LocalBus, Topic, make_bus
from core.chat import conversations as units
from core.chat import handoff
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from core.licensing.maintenance import Window, current_and_upcoming
from core.moderation.matcher import Matcher, load_word_list
from core.ratelimit import Rate, RateLimiter, make_rate_limiter
from core.settings import Settings
from core.types import utcnow


@dataclass
class ChatServices:
    settings: Settings
    db: Database
    store: ChatStore
    answerers: AnswererRegistry
    content_filter: Matcher | None
    index_cache: IndexCache
    limiter: RateLimiter
    limits: Limits
    hub: Hub = field(default_factory=Hub)
    clock: Callable[[], datetime] = utcnow
    # Maintenance windows not yet over, refreshed by the licence watcher (read on every hello).
    maintenance: list[Window] = field(default_factory=list)
    # The visitor messages being stored or answered (in Redis too, with several processes): a
    # hello never answers them again.
    claims: Claims = field(default_factory=Claims)
    # What processes tell each other (core.bus): in-process unless Redis is configured.
    bus: Bus = field(default_factory=LocalBus)
    # Where answers' CPU work (retrieval) runs, off the event loop and fair between licensees.
    workpool: WorkPool = field(default_factory=WorkPool)
    # Addresses refused too often: their handshakes are refused before the key is looked up.
    penalties: Penalties = field(default_factory=Penalties)
    # Hand-off to people: this process's agent consoles and delivery to and from them.
    desk: Desk = field(init=False)
    # Who an agent console's handshake cookies stand for (the accounts' sessions; wired by
    # the composition root): None refuses every agent socket.
    agent_auth: Callable[[Mapping[str, str], datetime], handoff.Agent | None] | None = None

    def __post_init__(self) -> None:
        self.desk = Desk(
            self.db, self.bus, self.hub, lambda: self.clock(), self.settings.agent_heartbeat_seconds
        )

    async def tell_ended(self, ending: units.Ending) -> None:
        """Tell every socket of the unit's end user, here and on every other worker, that the
        unit is over."""
        await self.hub.push_ended(ending)
        await self.desk.ended(ending)
        await self.bus.publish(Topic.ENDED, ending_data(ending))

    def redis_health(self) -> tuple[bool, str]:
        """Whether what processes share (signals, claims, limits) reaches Redis, and why not;
        for readiness checks. The bus's subscription watches the connection all the time, so it
        speaks for the claims and limits on the same Redis. Always true without Redis."""
        return self.bus.healthy()

    def load_maintenance(self) -> None:
        with self.db.read_session() as session:
            self.maintenance = current_and_upcoming(session, self.clock())


def build_default_index(entries: Sequence[KbEntry]) -> KnowledgeIndex:
    """Build the built-in retrieval index; imported on first use so that start-up stays fast."""
    from bot.answerers.retrieval import KnowledgeBaseIndex

    return KnowledgeBaseIndex.build(entries)


def _index_cache(
    settings: Settings, db: Database, build: Callable[[Sequence[KbEntry]], KnowledgeIndex] | None
) -> IndexCache:
    if build is not None:
        fixed = build
        return IndexCache(db, lambda _licensee, entries: fixed(entries))
    from bot.answerers.indexing import IndexFactory, encoder_for

    factory = IndexFactory(encoder_for(settings), db)
    return IndexCache(db, factory.build_for, factory.stale)


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
        store=DatabaseStore(db),
        answerers=AnswererRegistry(settings, db, fixed=answerer),
        content_filter=Matcher(load_word_list(settings.filter_words_file)),
        index_cache=_index_cache(settings, db, index_builder),
        limiter=make_rate_limiter(settings.redis_url),
        limits=Limits.from_settings(settings),
        claims=Claims(
            SharedClaims(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
        ),
        bus=make_bus(settings.redis_url, settings.redis_prefix),
        workpool=WorkPool(settings.work_threads),
        penalties=Penalties(Rate.parse(settings.rate_address_refusals)),
    )
