"""The licensee API's refusals: status, body and headers, as FastAPI gave them before the errors
were mapped in one handler (``kefu.error_handler``)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from fastapi import FastAPI

from core.db.engine import Database
from core.errors import (
    AuthError,
    ConfigError,
    Conflict,
    InvalidInput,
    LicenceUnavailable,
    RateLimited,
)
from kefu.error_handler import install
from testkit.servers import LiveServer
from testkit.tenants import MakeTenant

PATH = "/v1/usage/conversations"
BEARER = {"WWW-Authenticate": "Bearer"}


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        yield http


def refusal(response: httpx.Response) -> tuple[int, object, str | None]:
    return response.status_code, response.json(), response.headers.get("www-authenticate")


def test_refusals_keep_their_status_body_and_header(
    client: httpx.Client, db: Database, make_tenant: MakeTenant
) -> None:
    shop = make_tenant("Shop")
    secret = {"Authorization": f"Bearer {shop.keys.secret_key}"}
    site = {"Authorization": f"Bearer {shop.keys.site_key}"}
    month = {"month": "2026-02"}
    assert refusal(client.get(PATH, params=month)) == (
        401,
        {"detail": "missing secret key"},
        "Bearer",
    )
    assert refusal(client.get(PATH, params=month, headers=site)) == (
        401,
        {"detail": "unknown or revoked secret key"},
        "Bearer",
    )
    assert refusal(client.get(PATH, headers=secret)) == (
        400,
        {"detail": "month is required, as YYYY-MM"},
        None,
    )
    assert refusal(client.get(PATH, params={"month": "2026-13"}, headers=secret)) == (
        400,
        {"detail": "month must be YYYY-MM, got '2026-13'"},
        None,
    )


def handled(error: Exception) -> httpx.Response:
    app = FastAPI()
    install(app)

    @app.get("/")
    async def fail() -> None:
        raise error

    transport = httpx.ASGITransport(app=app)

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.get("/")

    return anyio.run(get)


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (InvalidInput("bad"), 400, {}),
        (AuthError("who"), 401, BEARER),
        (Conflict("twice"), 409, {}),
        (LicenceUnavailable("suspended", "off"), 403, {}),
        (LicenceUnavailable("maintenance", "later"), 503, {}),
        (RateLimited(2.4), 429, {"Retry-After": "2"}),
    ],
)
def test_each_error_has_its_status(error: Exception, status: int, headers: dict[str, str]) -> None:
    response = handled(error)
    assert response.status_code == status
    assert response.json() == {"detail": str(error)}
    for name, value in headers.items():
        assert response.headers[name] == value


def test_a_server_side_error_does_not_show_its_message() -> None:
    response = handled(ConfigError("KEFU_SECRET_KEY=abc is weak"))
    assert response.status_code == 500
    assert "abc" not in response.text
