"""``kefu admin create`` and ``kefu user create``: the people who sign in to the console."""

from __future__ import annotations

from typing import Annotated

import typer

from core import audit
from core.accounts import Role, create_user
from core.accounts.users import parse_role
from core.errors import InvalidInput
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, LicenseeOpt
from kefu.cli.output import emit

admin_app = Typer(help="The licensor's console accounts.")
user_app = Typer(help="Users of a licensee: its admins (the portal) and agents.")

EmailOpt = Annotated[str, typer.Option("--email", metavar="E", help="Sign-in email address.")]
PasswordOpt = Annotated[
    str,
    typer.Option("--password", metavar="P", help="At least 10 characters (hashed with argon2)."),
]
NameOpt = Annotated[str, typer.Option("--name", metavar="N", help="The name shown in the console.")]


def _create(
    *,
    email: str,
    password: str,
    role: Role,
    licensee: str | None,
    name: str,
    as_json: bool,
    timezone: str | None = None,
) -> None:
    now = utcnow()
    with database() as (_s, db), db.session() as session:
        user = create_user(
            session,
            email=email,
            password=password,
            role=role,
            licensee_id=licensee,
            name=name,
            now=now,
            timezone=timezone,
        )
        audit.record(
            session,
            actor=None,
            action="user.created",
            target=user.id,
            before=None,
            after={
                "email": user.email,
                "role": user.role,
                "licensee_id": user.licensee_id,
                **({"timezone": user.timezone} if timezone else {}),
            },
            now=now,
            licensee_id=user.licensee_id,
        )
        session.commit()
        data = {"id": user.id, "email": user.email, "role": user.role}
    emit(data, as_json, lambda: f"created {data['role']} {data['email']} ({data['id']})")


@admin_app.command(
    "create",
    epilog=examples("kefu admin create --email owner@example.com --password '…' --json"),
)
def admin_create(
    email: EmailOpt,
    password: PasswordOpt,
    name: NameOpt = "",
    timezone: Annotated[
        str,
        typer.Option(
            "--timezone",
            metavar="ZONE",
            help="The time zone the console shows this owner's times in (IANA name).",
        ),
    ] = "Asia/Shanghai",
    as_json: JsonOpt = False,
) -> None:
    """Create an owner account for the console at /admin."""
    _create(
        email=email,
        password=password,
        role=Role.OWNER,
        licensee=None,
        name=name,
        as_json=as_json,
        timezone=timezone,
    )


@user_app.command(
    "create",
    epilog=examples(
        "kefu user create --licensee lic_… --role admin --email it@shop.example --password '…'",
        "kefu user create --licensee lic_… --role agent --email a@shop.example --password '…' "
        "--name 小王 --json",
    ),
)
def user_create(
    licensee: LicenseeOpt,
    role: Annotated[str, typer.Option("--role", metavar="admin|agent", help="admin or agent.")],
    email: EmailOpt,
    password: PasswordOpt,
    name: NameOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a licensee's admin (the portal) or agent.

    Agents work in the agent console at /agent; both see only their own licensee."""
    parsed = parse_role(role)
    if parsed not in (Role.ADMIN, Role.AGENT):
        raise InvalidInput("--role must be admin or agent (licensor staff: kefu admin create)")
    _create(
        email=email, password=password, role=parsed, licensee=licensee, name=name, as_json=as_json
    )
