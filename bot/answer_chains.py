"""Which answerer answers for a licensee: its model chain with the built-in answerer last.

Chains are built once per licensee and rebuilt when the licensee changes (``updated_at``, which
``kefu model set`` bumps). LangChain is imported only when a chain with a model is first built,
never at start-up.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.answerers.base import Answerer
from bot.answerers.kb import KnowledgeBaseAnswerer
from core.db import Database
from core.model_config import ModelLink, chain_for
from core.models import Licensee
from core.settings import Settings


def build_chain(links: list[ModelLink], builtin: Answerer) -> Answerer:
    if not links:
        return builtin
    from bot.llm.answerer import ModelAnswerer
    from bot.llm.backends import BackendSpec
    from bot.llm.chain import FallbackChain

    models: list[Answerer] = [
        ModelAnswerer(
            BackendSpec(
                provider=link.provider.value,
                base_url=link.base_url,
                model=link.model,
                api_key=link.api_key,
                first_token_timeout=link.first_token_timeout,
                total_timeout=link.total_timeout,
            )
        )
        for link in links
    ]
    return FallbackChain([*models, builtin])


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
