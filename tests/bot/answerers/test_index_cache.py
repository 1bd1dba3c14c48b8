"""The index cache upgrades lexical indexes once the encoder has loaded, without making anyone wait."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from bot.answerers.contract import KnowledgeIndex
from bot.answerers.encoder import BackgroundEncoder, FloatArray
from bot.answerers.hybrid import HybridIndex
from bot.answerers.index_cache import IndexCache
from bot.answerers.indexing import IndexFactory
from core.db.engine import Database
from core.knowledge.entries import KbEntry
from testkit.tenants import MakeTenant

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class WordEncoder:
    name = "words"

    def encode(self, texts: Sequence[str]) -> FloatArray:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


async def test_an_index_built_before_the_encoder_is_replaced_in_the_background(
    db: Database, make_tenant: MakeTenant
) -> None:
    licensee = make_tenant("Shop").licensee.id
    gate = threading.Event()

    def load() -> WordEncoder:
        gate.wait(10)
        return WordEncoder()

    encoder = BackgroundEncoder(load)
    factory = IndexFactory(encoder)
    builds: list[bool] = []

    def build(_licensee: str, entries: Sequence[KbEntry]) -> KnowledgeIndex:
        index = factory.build(entries)
        assert isinstance(index, HybridIndex)
        builds.append(index.uses_encoder)
        return index

    cache = IndexCache(db, build, factory.stale)
    first = await cache.get(licensee, 0)
    assert builds == [False]  # the encoder is still loading: lexical only
    gate.set()
    assert encoder.wait(10) is not None
    # The next question gets the lexical index at once, while the hybrid one is built...
    assert await cache.get(licensee, 0) is first
    for _ in range(200):
        await asyncio.sleep(0.01)
        if builds == [False, True]:
            break
    # ...and the ones after it the hybrid index.
    upgraded = await cache.get(licensee, 0)
    assert builds == [False, True]
    assert isinstance(upgraded, HybridIndex) and upgraded.uses_encoder
    assert await cache.get(licensee, 0) is upgraded
