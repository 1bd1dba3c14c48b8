"""Operations endpoints: ``/healthz`` (alive), ``/readyz`` (dependencies), ``/metrics``."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot import health, metrics
from bot.deps import services_of

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """The process answers: no dependency is asked (a restart would not help them)."""
    services = services_of(request.app)
    body: dict[str, object] = {"ok": True, "connections": len(services.hub)}
    leader = getattr(request.app.state, "leader", None)
    if leader is not None:  # several workers: which one runs the jobs, and its bus (no I/O)
        body.update(leader=leader.is_leader, shared=services.redis_health()[0], pid=os.getpid())
    return JSONResponse(body)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when every dependency answers, else 503; each check says how it went."""
    services = services_of(request.app)
    settings = services.settings
    state = request.app.state
    if getattr(state, "database_probe", None) is None:
        state.database_probe = health.DatabaseProbe(services.db)
    checks = await health.readiness(
        state.database_probe, settings.redis_url, settings.readiness_timeout_seconds
    )
    ok = all(check.ok for check in checks)
    body = {"ok": ok, "checks": {check.name: check.as_json() for check in checks}}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    settings = services_of(request.app).settings
    if not settings.metrics:
        return Response("metrics are off (KEFU_METRICS)\n", 404, media_type="text/plain")
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    client = request.client.host if request.client else None
    if not metrics.scrape_allowed(token, request.headers.get("authorization"), client):
        return Response("forbidden\n", 403, media_type="text/plain")
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
