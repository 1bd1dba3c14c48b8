"""`kefu serve` freezes what start-up leaves alive out of the garbage collector's passes."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.db.engine import Database
from kefu.cli.serve import run_server
from kefu.heap import freeze_long_lived
from testkit.servers import settings_for


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process must not keep its objects out of collection


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_what_is_alive_is_frozen_and_start_up_garbage_is_collected_first() -> None:
    alive = [Node()]
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    frozen = freeze_long_lived()
    assert frozen == gc.get_freeze_count() > 0
    assert gone() is None  # collected, not frozen for good
    assert not any(o is alive for o in gc.get_objects())  # out of every generation's passes


def _wait_frozen(app: FastAPI) -> int:
    with TestClient(app):
        deadline = time.monotonic() + 20  # the warm-up imports run in a thread after start
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        return gc.get_freeze_count()


def test_kefu_serve_freezes_once_started(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))
    Database(sqlite_url).migrate()
    run_server(settings_for(sqlite_url), "127.0.0.1", 0)
    assert _wait_frozen(served[0]) > 0


def test_an_app_for_tests_does_not_freeze(sqlite_url: str) -> None:
    from kefu.app import create_app

    db = Database(sqlite_url)
    db.migrate()
    app = create_app(settings_for(sqlite_url), db=db)
    with TestClient(app):
        pass  # the lifespan waits for its warm-up (where a freeze would be) before it ends
    assert gc.get_freeze_count() == 0
