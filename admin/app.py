"""``create_admin``: the console's pages and JSON API as one router, every route behind the
gate (who is asking, language, CSRF)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request

from admin import api, pages
from admin.context import AdminContext
from admin.security import gate
from core.bus import Bus
from core.db.engine import Database
from core.ratelimit import MemoryRateLimiter, RateLimiter
from core.settings import Settings


def _area_routers(package: Any) -> list[APIRouter]:
    """Every ``router`` of the package's modules, in name order (an area is one module)."""
    routers = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return routers


def create_admin(
    settings: Settings,
    db: Database,
    *,
    limiter: RateLimiter | None = None,
    bus: Bus | None = None,
    **hooks: Callable[..., Any],
) -> APIRouter:
    """The console for one app. ``hooks`` are callables that need the chat server (``bot``),
    passed in by ``kefu/app.py`` (a hit tester with the real answerer)."""
    ctx = AdminContext(settings, db, limiter or MemoryRateLimiter(), dict(hooks), bus)

    def attach(request: Request) -> None:
        request.state.kefu_admin = ctx

    # FastAPI solves a route's router-level dependencies first and in order: the context is
    # attached before the gate reads it, and the gate runs (once, cached) before any page.
    router = APIRouter(dependencies=[Depends(attach), Depends(gate)])
    for area in _area_routers(pages):
        router.include_router(area, include_in_schema=False)
    for area in _area_routers(api):
        router.include_router(area, tags=["admin"])
    return router
