"""Which answerer answers for a licensee: its model chain with the built-in answerer last.

Chains are built once per licensee and rebuilt when the licensee changes (``updated_at``, which
``kefu model set`` bumps). LangChain is imported only when a chain with a model is first built,
never at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.answerers.contract import Answerer
from bot.answerers.knowledge_base import KnowledgeBaseAnswerer
from core.db.engine import Database
from core.db.tables import Licensee
from core.licensing.model_chain import ModelLink, chain_for
from core.settings import Settings

log = logging.getLogger("kefu.models")


def build_chain(links: list[ModelLink], builtin: Answerer) -> Answerer:
    """The chain for ``links`` (in a worker thread: it imports LangChain and builds the model
    objects, once per process); a link that cannot be built is left out, loudly."""
    if not links:
        return builtin
    from bot.llm.answerer import ModelAnswerer
    from bot.llm.backends import BackendSpec, chat_model, warm_up
    from bot.llm.chain import FallbackChain

    warm_up()
    models: list[Answerer] = []
    for link in links:
        try:
            spec = BackendSpec(
                provider=link.provider.value,
                base_url=link.base_url,
                model=link.model,
                api_key=link.api_key,
                first_token_timeout=link.first_token_timeout,
                total_timeout=link.total_timeout,
            )
            chat_model(spec)
        except Exception:
            log.exception("model %s at %s cannot be used; left out", link.model, link.base_url)
            continue
        models.append(ModelAnswerer(spec))
    return FallbackChain([*models, builtin]) if models else builtin


class AnswererRegistry:
    def __init__(self, settings: Settings, db: Database, fixed: Answerer | None = None) -> None:
        self._settings = settings
        self._db = db
        self.fixed = fixed
        self.builtin: Answerer = KnowledgeBaseAnswerer()
        self._chains: dict[str, tuple[datetime, Answerer]] = {}

    async def for_licensee(self, licensee: Licensee) -> Answerer:
        if self.fixed is not None:
            return self.fixed
        cached = self._chains.get(licensee.id)
        if cached is not None and cached[0] == licensee.updated_at:
            return cached[1]
        links = await asyncio.to_thread(self._links, licensee.id)
        chain = await asyncio.to_thread(build_chain, links, self.builtin)
        self._chains[licensee.id] = (licensee.updated_at, chain)
        return chain

    def _links(self, licensee_id: str) -> list[ModelLink]:
        with self._db.read_session() as session:
            return chain_for(session, self._settings, licensee_id)
