"""Users, passwords and sessions as plain functions, with ``now`` passed in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from core.accounts import Principal, Role, create_user, resolve_session, start_session
from core.accounts.sessions import (
    IDLE_LIFETIME,
    SESSION_LIFETIME,
    TOUCH_EVERY,
    needs_touch,
    touch_session,
)
from core.accounts.users import (
    LOCK_OUT,
    MAX_FAILED_ATTEMPTS,
    authenticate,
    change_password,
    find_user,
)
from core.audit import record
from core.db.engine import Database
from core.db.tables import AuditEntry, User, UserSession
from core.errors import Conflict, InvalidInput, NotFound
from core.types import utcnow
from testkit.tenants import MakeTenant

PASSWORD = "correct horse battery"


def owner(db: Database, email: str = "boss@example.com") -> User:
    with db.session() as session:
        user = create_user(session, email=email, password=PASSWORD, role=Role.OWNER, now=utcnow())
        session.commit()
        return user


def test_passwords_are_stored_as_argon2id(db: Database) -> None:
    user = owner(db)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_emails_are_unique_whatever_their_case(db: Database) -> None:
    owner(db, "Boss@Example.com")
    with db.session() as session, pytest.raises(Conflict):
        create_user(
            session, email="BOSS@example.COM", password=PASSWORD, role=Role.OWNER, now=utcnow()
        )
    with db.read_session() as session:
        assert find_user(session, "boss@EXAMPLE.com") is not None


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"email": "not-an-email"}, InvalidInput),
        ({"password": "short"}, InvalidInput),
        ({"password": " padded password "}, InvalidInput),
        ({"role": Role.AGENT}, InvalidInput),  # a licensee's role without a licensee
        ({"role": Role.ADMIN, "licensee_id": "lic_nope"}, NotFound),
        ({"role": Role.SUPPORT, "licensee_id": "lic_nope"}, InvalidInput),
    ],
)
def test_bad_users_are_refused(db: Database, kw: dict[str, object], error: type) -> None:
    args: dict[str, object] = {"email": "a@example.com", "password": PASSWORD, "role": Role.OWNER}
    args.update(kw)
    with db.session() as session, pytest.raises(error):
        create_user(session, now=utcnow(), **args)  # type: ignore[arg-type]


def test_licensee_users_belong_to_their_licensee(db: Database, make_tenant: MakeTenant) -> None:
    shop = make_tenant().licensee.id
    with db.session() as session:
        agent = create_user(
            session,
            email="agent@shop.example",
            password=PASSWORD,
            role=Role.AGENT,
            licensee_id=shop,
            now=utcnow(),
        )
        token = start_session(session, agent, utcnow())
        session.commit()
    with db.read_session() as session:
        principal = resolve_session(session, token, utcnow())
    assert principal is not None
    assert (principal.role, principal.licensee_id) == (Role.AGENT, shop)
    assert not principal.is_licensor and principal.can_write and not principal.sees_billing
    assert principal.can_see(shop) and not principal.can_see("lic_other")


def test_the_fifth_failure_locks_for_15_minutes(db: Database) -> None:
    user = owner(db)
    now = utcnow()
    with db.session() as session:
        for attempt in range(1, MAX_FAILED_ATTEMPTS + 1):
            outcome = authenticate(session, user.email, "wrong password!", now)
            assert outcome.user is None
            assert (outcome.locked_until is not None) == (attempt == MAX_FAILED_ATTEMPTS)
        session.commit()
    with db.session() as session:
        assert authenticate(session, user.email, PASSWORD, now + LOCK_OUT / 2).user is None
        later = now + LOCK_OUT + timedelta(seconds=1)
        assert authenticate(session, user.email, PASSWORD, later).user is not None
        session.commit()


def test_a_success_resets_the_count(db: Database) -> None:
    user = owner(db)
    now = utcnow()
    with db.session() as session:
        for _ in range(MAX_FAILED_ATTEMPTS - 1):
            authenticate(session, user.email, "wrong password!", now)
        assert authenticate(session, user.email, PASSWORD, now).user is not None
        for _ in range(MAX_FAILED_ATTEMPTS - 1):
            assert authenticate(session, user.email, "wrong password!", now).locked_until is None
        session.commit()


def test_a_hash_made_with_old_parameters_is_replaced_at_sign_in(db: Database) -> None:
    user = owner(db)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with db.session() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.password_hash = weak.hash(PASSWORD)
        session.add(row)
        session.commit()
    with db.session() as session:
        outcome = authenticate(session, user.email, PASSWORD, utcnow())
        assert outcome.user is not None and outcome.rehash is not None
        session.commit()
    with db.read_session() as session:
        stored = session.get(User, user.id)
        assert stored is not None
        assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_sessions_expire_and_idle_out(db: Database) -> None:
    user = owner(db)
    start = utcnow()
    with db.session() as session:
        token = start_session(session, user, start)
        session.commit()
    with db.session() as session:
        principal = resolve_session(session, token, start)
        assert principal is not None
        assert not needs_touch(principal, start + TOUCH_EVERY / 2)  # not a write per request
        assert needs_touch(principal, start + TOUCH_EVERY)
        assert resolve_session(session, token + "x", start) is None
        assert resolve_session(session, None, start) is None
        assert resolve_session(session, token, start + IDLE_LIFETIME) is None  # idle
        row = session.exec(select(UserSession)).one()
        touch_session(session, row.id, start + IDLE_LIFETIME - timedelta(minutes=1))
        session.commit()
    with db.read_session() as session:
        assert resolve_session(session, token, start + IDLE_LIFETIME) is not None
        assert resolve_session(session, token, start + SESSION_LIFETIME) is None  # expired
        stored = session.exec(select(UserSession.token_hash)).one()
        assert token not in stored  # only the hash is kept


def test_a_password_change_keeps_only_the_current_session(db: Database) -> None:
    user = owner(db)
    now = utcnow()
    with db.session() as session:
        mine = start_session(session, user, now)
        other = start_session(session, user, now)
        session.commit()
    with db.session() as session:
        me = resolve_session(session, mine, now)
        assert me is not None
        with pytest.raises(InvalidInput):
            change_password(session, user.id, "not the password", "a new password!", me.session_id)
        change_password(session, user.id, PASSWORD, "a new password!", me.session_id)
        session.commit()
    with db.read_session() as session:
        assert resolve_session(session, mine, now) is not None
        assert resolve_session(session, other, now) is None


def test_audit_entries_say_who_what_when_before_and_after(db: Database) -> None:
    user = owner(db)
    actor = Principal(user.id, user.email, "Boss", Role.OWNER, None)
    now = utcnow()
    with db.session() as session:
        record(
            session,
            actor=actor,
            action="licensee.updated",
            target="lic_1",
            before={"idle_timeout_minutes": 30, "day": now.date()},
            after={"idle_timeout_minutes": 45},
            now=now,
            licensee_id="lic_1",
        )
        session.commit()
    with db.read_session() as session:
        entry = session.exec(select(AuditEntry)).one()
    assert (entry.actor_id, entry.actor_email, entry.actor_role) == (user.id, user.email, "owner")
    assert (entry.action, entry.target, entry.licensee_id) == ("licensee.updated", "lic_1", "lic_1")
    assert entry.before == {"idle_timeout_minutes": 30, "day": now.date().isoformat()}
    assert entry.after == {"idle_timeout_minutes": 45}
    assert entry.at == now


def test_api_tokens_belong_to_one_licensee(db: Database, make_tenant: MakeTenant) -> None:
    from core.accounts.tokens import issue_token, resolve_token, revoke_token

    mine, theirs = make_tenant("Mine").licensee.id, make_tenant("Theirs").licensee.id
    now = utcnow()
    with db.session() as session:
        admin = create_user(
            session,
            email="it@mine.example",
            password=PASSWORD,
            role=Role.ADMIN,
            licensee_id=mine,
            now=now,
        )
        me = Principal(admin.id, admin.email, "", Role.ADMIN, mine, session_id="ses_x")
        staff = Principal("usr_x", "boss@example.com", "", Role.OWNER, None, session_id="ses_y")
        with pytest.raises(InvalidInput):
            issue_token(session, staff, "x", now)  # the licensor's staff sign in instead
        issued = issue_token(session, me, "ERP", now)
        session.commit()
    assert issued.token.startswith("kat_") and issued.token not in issued.row.token_hash
    with db.session() as session:
        principal = resolve_token(session, issued.token, now)
        assert principal is not None
        assert (principal.role, principal.licensee_id, principal.session_id) == (
            Role.ADMIN,
            mine,
            "",
        )
        assert resolve_token(session, "sk_live_" + issued.token[4:], now) is None
        with pytest.raises(NotFound):
            revoke_token(session, theirs, issued.row.id, now)  # another licensee's: absent
        revoke_token(session, mine, issued.row.id, now)
        session.commit()
    with db.read_session() as session:
        assert resolve_token(session, issued.token, now) is None


def test_the_last_owner_stays(db: Database) -> None:
    from core.accounts.users import delete_user

    boss = owner(db)
    with db.session() as session, pytest.raises(InvalidInput, match="last owner"):
        delete_user(session, boss.id, "usr_cli")
    with db.session() as session, pytest.raises(InvalidInput, match="yourself"):
        delete_user(session, boss.id, boss.id)
