"""Users: creation, sign-in with lock-out after repeated failures, password changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from core.accounts.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from core.accounts.roles import LICENSEE_ROLES, Role
from core.db.tables import AccessToken, Licensee, User, UserSession
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import new_id
from core.licensing.service_period import DEFAULT_TIMEZONE, zone

MAX_FAILED_ATTEMPTS = 5
LOCK_OUT = timedelta(minutes=15)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidInput(f"not an email address: {email!r}", code="user.email", email=email)
    return value


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInput(
            f"unknown role {value!r}: use one of {names}",
            code="user.role",
            role=value,
            choices=names,
        ) from None


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    now: datetime,
    licensee_id: str | None = None,
    name: str = "",
    timezone: str | None = None,
) -> User:
    """A new user; a licensee's roles need its licensee, the licensor's staff have none (and
    may have a time zone of their own, default Asia/Shanghai)."""
    address = normalise_email(email)
    check_new_password(password)
    if len(name) > 100:
        raise InvalidInput("the name must have at most 100 characters", code="user.name_length")
    if role in LICENSEE_ROLES:
        if not licensee_id:
            raise InvalidInput(
                f"a user with the {role.value} role needs --licensee",
                code="user.needs_licensee",
                role=role.value,
            )
        if session.get(Licensee, licensee_id) is None:
            raise NotFound(f"no licensee {licensee_id}", code="licensee.not_found", id=licensee_id)
    elif licensee_id:
        raise InvalidInput(
            f"the {role.value} role belongs to the licensor, not to a licensee",
            code="user.licensor_role",
            role=role.value,
        )
    if timezone is not None:
        _check_own_zone(role, timezone)
    if find_user(session, address) is not None:
        raise Conflict(
            f"a user with the email {address} exists already",
            code="user.email_taken",
            email=address,
        )
    user = User(
        id=new_id("usr"),
        email=address,
        name=name.strip(),
        role=role.value,
        licensee_id=licensee_id if role in LICENSEE_ROLES else None,
        password_hash=hash_password(password),
        timezone=timezone or DEFAULT_TIMEZONE,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", code="user.not_found", id=user_id)
    return user


def count_users(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(User)).one())


@dataclass(frozen=True)
class SignIn:
    """What a password check came to: the user, or why not."""

    user: User | None
    locked_until: datetime | None = None
    rehash: str | None = None  # a new hash when the hasher's parameters changed


def check_sign_in(user: User | None, password: str, now: datetime) -> SignIn:
    """Check ``password`` against a user read beforehand (no transaction held: argon2 takes
    tens of milliseconds of CPU on purpose). A locked account refuses even the right one."""
    if user is not None and user.locked_until is not None and user.locked_until > now:
        verify_password(None, password)  # as slow as any other attempt
        return SignIn(None, locked_until=user.locked_until)
    if user is None or not verify_password(user.password_hash, password):
        return SignIn(None)
    rehash = hash_password(password) if needs_rehash(user.password_hash) else None
    return SignIn(user, rehash=rehash)


def record_failure(session: Session, user_id: str, now: datetime) -> datetime | None:
    """Count a wrong password; the fifth in a row locks the account for 15 minutes. Returns
    the end of the lock when this attempt set it."""
    user = session.exec(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None:
        return None
    user.failed_attempts += 1
    locked = None
    if user.failed_attempts >= MAX_FAILED_ATTEMPTS:
        locked = user.locked_until = now + LOCK_OUT
        user.failed_attempts = 0
    session.add(user)
    return locked


def record_success(session: Session, user_id: str, rehash: str | None) -> None:
    user = get_user(session, user_id)
    user.failed_attempts = 0
    user.locked_until = None
    if rehash is not None:
        user.password_hash = rehash
    session.add(user)


def authenticate(session: Session, email: str, password: str, now: datetime) -> SignIn:
    """Check and record a sign-in in one session (the command line and tests; the web form
    checks outside the write transaction). The caller commits whatever the outcome."""
    try:
        address = normalise_email(email)
    except InvalidInput:
        return check_sign_in(None, password, now)
    outcome = check_sign_in(find_user(session, address), password, now)
    if outcome.user is not None:
        record_success(session, outcome.user.id, outcome.rehash)
        return outcome
    user = find_user(session, address)
    if user is not None and outcome.locked_until is None:
        locked = record_failure(session, user.id, now)
        return SignIn(None, locked_until=locked)
    return outcome


def set_password(session: Session, user: User, new_password: str) -> None:
    """Set a new password and sign the user out everywhere (the caller may start a session)."""
    check_new_password(new_password)
    store_password(session, user.id, hash_password(new_password))


def prepare_password_change(user: User, current: str, new_password: str) -> str:
    """The new hash for a user's own change, after checking the current password (argon2 work,
    done outside any write transaction)."""
    if not verify_password(user.password_hash, current):
        raise InvalidInput("the current password is wrong", code="password.current_wrong")
    if new_password == current:
        raise InvalidInput(
            "the new password must differ from the current one", code="password.unchanged"
        )
    check_new_password(new_password)
    return hash_password(new_password)


def store_password(session: Session, user_id: str, new_hash: str, keep_session: str = "") -> None:
    """Keep ``new_hash`` and end every session of the user but ``keep_session``."""
    user = get_user(session, user_id)
    user.password_hash = new_hash
    user.failed_attempts = 0
    user.locked_until = None
    session.add(user)
    statement = delete(UserSession).where(UserSession.user_id == user.id)  # type: ignore[arg-type]
    if keep_session:
        statement = statement.where(UserSession.id != keep_session)  # type: ignore[arg-type]
    session.execute(statement)


def change_password(
    session: Session, user_id: str, current: str, new_password: str, keep_session: str = ""
) -> None:
    """A user's own change in one session: every other session ends."""
    new_hash = prepare_password_change(get_user(session, user_id), current, new_password)
    store_password(session, user_id, new_hash, keep_session)


def list_users(session: Session, licensee_id: str | None = None) -> list[User]:
    """Every user (``licensee_id`` None) or one licensee's, licensor staff first, by email."""
    statement = select(User)
    if licensee_id is not None:
        statement = statement.where(User.licensee_id == licensee_id)
    return list(
        session.exec(statement.order_by(col(User.licensee_id).nullsfirst(), col(User.email)))
    )


def delete_user(session: Session, user_id: str, by_user_id: str) -> User:
    """Remove a user: their sessions end and the API tokens they made stop working (the audit
    log keeps their email). Nobody removes themselves, and the last owner stays."""
    user = get_user(session, user_id)
    if user.id == by_user_id:
        raise InvalidInput("you cannot remove yourself", code="user.remove_self")
    if user.role == Role.OWNER:
        owners = session.exec(
            select(func.count()).select_from(User).where(User.role == Role.OWNER.value)
        ).one()
        if int(owners) <= 1:
            raise InvalidInput("the last owner cannot be removed", code="user.last_owner")
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))  # type: ignore[arg-type]
    session.execute(delete(AccessToken).where(AccessToken.created_by == user.id))  # type: ignore[arg-type]
    session.delete(user)
    session.flush()
    return user


def _check_own_zone(role: Role, timezone: str) -> None:
    if role in LICENSEE_ROLES:
        raise InvalidInput(
            "a licensee's users read their licensee's time zone",
            code="user.zone_is_licensees",
        )
    zone(timezone)  # InvalidInput if unknown


def set_timezone(session: Session, user_id: str, timezone: str) -> User:
    """The zone a licensor's staff member reads and types the console's times in."""
    user = get_user(session, user_id)
    timezone = timezone.strip()
    _check_own_zone(Role(user.role), timezone)
    user.timezone = timezone
    session.add(user)
    session.flush()
    return user
