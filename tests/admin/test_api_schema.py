"""Schemathesis over the console's whole JSON API (every area's ``/admin/api`` operation in the
product's OpenAPI document), signed in as the owner: no 5xx, and every response matches the
schema it documents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis

# Imported here, not lazily inside a Hypothesis draw or ``from_asgi``: on Python 3.11 an import
# that deep in the stack can fail with "AST constructor recursion depth mismatch" (a SystemError
# while pytest rewrites the plugin's modules).
import schemathesis.generation.dictionaries
import schemathesis.specs.openapi.schemas
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from starlette.testclient import TestClient

from core.accounts import Role
from core.db.engine import Database
from core.reporting.daily import rebuild
from kefu.app import create_app
from testkit.admin import admin_settings, csrf_of, make_user, sign_in
from testkit.billing import add_units
from testkit.tenants import make_tenant


@pytest.fixture(scope="module")
def signed_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FastAPI, dict[str, Any]]]:
    """The product with a licensee, a month of units and an owner signed in (cookie, CSRF)."""
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('api')) / 'kefu.db'}"
    db = Database(url, sqlite_synchronous="NORMAL")
    db.migrate()
    lic = make_tenant(db, "Shop", now=datetime(2026, 1, 1, tzinfo=UTC), start=date(2026, 1, 1))
    start = datetime(2026, 11, 3, 2, tzinfo=UTC)
    add_units(db, lic.licensee.id, [start + timedelta(hours=i) for i in range(5)])
    with db.session() as s:
        rebuild(s, datetime(2026, 12, 1, tzinfo=UTC))
        s.commit()
    owner = make_user(db, Role.OWNER)
    app = create_app(admin_settings(url), db=db)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, owner.email).status_code == 303
        csrf = csrf_of(client.get("/admin/password").text)
        auth = {"cookies": dict(client.cookies), "headers": {"X-CSRF-Token": csrf}}
        yield app, auth
    db.close()


def test_the_console_api_never_fails_and_matches_its_schema(
    signed_app: tuple[FastAPI, dict[str, Any]],
) -> None:
    app, auth = signed_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/admin/api/")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    labels = {op.label for op in operations}
    # Every area's API is in the document (these two are this area's).
    assert "GET /admin/api/reports" in labels
    assert "POST /admin/api/statements/{licensee_id}/{which}/issue" in labels
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(
                headers=auth["headers"],
                cookies=auth["cookies"],
                checks=[not_a_server_error, response_schema_conformance],
            )

        check()
