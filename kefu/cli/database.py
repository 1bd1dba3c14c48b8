"""The settings and the migrated database one ``kefu`` command works on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.bus import Data, Topic, announce
from core.db.engine import Database, open_database
from core.settings import Settings, load_settings


@contextmanager
def database(migrate: bool = True) -> Iterator[tuple[Settings, Database]]:
    """Settings read once and the database, migrated if needed, closed afterwards. Errors are
    left to the command group (``kefu.cli.command``), which prints them."""
    settings = load_settings()
    db = open_database(settings)
    try:
        if migrate:
            db.migrate()
        yield settings, db
    finally:
        db.close()


def tell_servers(settings: Settings, topic: Topic, data: Data) -> None:
    """Tell running servers of a change now (through Redis, when configured); without it they
    notice within their licence watch interval."""
    announce(settings.redis_url, topic, data, settings.redis_prefix)
