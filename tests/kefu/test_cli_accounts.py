"""``kefu admin create`` and ``kefu user create``: one JSON object, clear errors, and accounts
that can sign in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select
from typer.testing import Result

from core.accounts import Role
from core.accounts.users import authenticate
from core.db.engine import Database
from core.db.tables import AuditEntry, User
from core.errors import ExitCode
from core.types import utcnow
from testkit.cli import assert_clean_error, one_json
from testkit.tenants import ORIGIN

Kefu = Callable[..., Result]
PASSWORD = "correct horse battery"


def licensee(kefu: Kefu) -> str:
    made = one_json(kefu("licensee", "create", "--name", "Shop", "--origin", ORIGIN, "--json"))
    return str(made["id"])


def test_admin_create_makes_an_owner_who_can_sign_in(kefu: Kefu, cli_url: str) -> None:
    made = one_json(
        kefu("admin", "create", "--email", "Boss@Example.com", "--password", PASSWORD, "--json")
    )
    assert set(made) == {"id", "email", "role"}
    assert made["email"] == "boss@example.com" and made["role"] == "owner"
    assert made["id"].startswith("usr_")
    text = kefu("admin", "create", "--email", "two@example.com", "--password", PASSWORD)
    assert text.stdout.startswith("created owner two@example.com")
    db = Database(cli_url)
    try:
        with db.session() as session:
            assert authenticate(session, "boss@example.com", PASSWORD, utcnow()).user is not None
            entries = session.exec(select(AuditEntry.action, AuditEntry.target)).all()
            assert ("user.created", made["id"]) in entries
    finally:
        db.close()


def test_user_create_makes_a_licensee_admin_and_an_agent(kefu: Kefu, cli_url: str) -> None:
    shop = licensee(kefu)
    admin = one_json(
        kefu(
            "user",
            "create",
            "--licensee",
            shop,
            "--role",
            "admin",
            "--email",
            "it@shop.example",
            "--password",
            PASSWORD,
            "--json",
        )
    )
    agent = one_json(
        kefu(
            "user",
            "create",
            "--licensee",
            shop,
            "--role",
            "agent",
            "--email",
            "a@shop.example",
            "--password",
            PASSWORD,
            "--name",
            "小王",
            "--json",
        )
    )
    assert (admin["role"], agent["role"]) == ("admin", "agent")
    db = Database(cli_url)
    try:
        with db.read_session() as session:
            row = session.get(User, agent["id"])
            assert row is not None
            assert (row.licensee_id, row.name, row.role) == (shop, "小王", Role.AGENT.value)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["admin", "create", "--email", "x@example.com", "--password", "short"], ExitCode.INVALID),
        (["admin", "create", "--email", "nope", "--password", PASSWORD], ExitCode.INVALID),
        (
            [
                "user",
                "create",
                "--licensee",
                "lic_nope",
                "--role",
                "agent",
                "--email",
                "a@example.com",
                "--password",
                PASSWORD,
            ],
            ExitCode.NOT_FOUND,
        ),
        (
            [
                "user",
                "create",
                "--licensee",
                "SHOP",
                "--role",
                "owner",
                "--email",
                "a@example.com",
                "--password",
                PASSWORD,
            ],
            ExitCode.INVALID,
        ),
        (
            [
                "user",
                "create",
                "--licensee",
                "SHOP",
                "--role",
                "boss",
                "--email",
                "a@example.com",
                "--password",
                PASSWORD,
            ],
            ExitCode.INVALID,
        ),
    ],
)
def test_bad_input_is_a_clear_error(kefu: Kefu, args: list[str], code: ExitCode) -> None:
    shop = licensee(kefu)
    result = kefu(*[shop if a == "SHOP" else a for a in args], "--json", ok=False)
    assert_clean_error(result)
    assert result.exit_code == code
    assert result.stdout == ""


def test_a_taken_email_is_a_conflict_whatever_its_case(kefu: Kefu) -> None:
    kefu("admin", "create", "--email", "boss@example.com", "--password", PASSWORD)
    again = kefu(
        "admin", "create", "--email", "BOSS@example.com", "--password", PASSWORD, "--json", ok=False
    )
    assert_clean_error(again)
    assert again.exit_code == ExitCode.CONFLICT
    assert "boss@example.com" in again.stderr
