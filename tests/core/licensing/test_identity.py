"""Identity secrets, user hashes, derived visitor ids, hello.user parsing and end_users rows."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from core.chat import conversations as units
from core.chat.conversations import Speaker, UnitPolicy
from core.chat.frames import Hello, UserClaim, parse_client_frame
from core.db.engine import Database
from core.db.tables import ApiKey, EndUser, Licensee, table_of
from core.ids import new_id
from core.licensing.identity import (
    identity_secret,
    is_recorded,
    record_end_user,
    rotate,
    user_hash,
    valid_user_id,
    verified_user,
    visitor_id_for,
)
from core.reporting.usage import month_usage

SERVER_SECRET = "s" * 40
VISITOR_ID = re.compile(r"v_[0-9abcdefghjkmnpqrstvwxyz]{26}")


def licensee(lic_id: str = "lic_a", epoch: int = 0) -> Licensee:
    return Licensee(
        id=lic_id,
        name="Shop",
        service_start=date(2026, 1, 1),
        service_end=date(2026, 12, 31),
        identity_epoch=epoch,
    )


def claim(user_id: str, digest: str) -> UserClaim:
    return UserClaim.model_construct(id=user_id, hash=digest)


def test_the_identity_secret_is_the_documented_derivation() -> None:
    secret = identity_secret(SERVER_SECRET, "lic_a", 3)
    expected = hmac.new(SERVER_SECRET.encode(), b"identity:lic_a:3", hashlib.sha256).hexdigest()
    assert secret == "idv_" + expected
    assert identity_secret(SERVER_SECRET, "lic_a", 4) != secret
    assert identity_secret(SERVER_SECRET, "lic_b", 3) != secret
    assert identity_secret("t" * 40, "lic_a", 3) != secret


def test_the_user_hash_is_what_a_licensees_server_computes() -> None:
    # The recipe of docs/protocol.md, keyed with the whole secret as printed.
    secret = identity_secret(SERVER_SECRET, "lic_a", 0)
    theirs = hmac.new(secret.encode("utf-8"), "用户-42".encode(), hashlib.sha256).hexdigest()
    assert user_hash(secret, "用户-42") == theirs
    assert verified_user(SERVER_SECRET, licensee(), claim("用户-42", theirs)) == "用户-42"
    # Upper-case hex is the same hash.
    assert verified_user(SERVER_SECRET, licensee(), claim("用户-42", theirs.upper())) == "用户-42"


@pytest.mark.parametrize(
    "case",
    ["wrong user", "other licensee", "old epoch", "not hex", "short", "absent"],
)
def test_unproven_users_are_not_verified(case: str) -> None:
    good = user_hash(identity_secret(SERVER_SECRET, "lic_a", 0), "u1")
    claims: dict[str, tuple[Licensee, UserClaim | None]] = {
        "wrong user": (licensee(), claim("u2", good)),
        "other licensee": (licensee("lic_b"), claim("u1", good)),
        "old epoch": (licensee(epoch=1), claim("u1", good)),
        "not hex": (licensee(), claim("u1", "g" * 64)),
        "short": (licensee(), claim("u1", good[:63])),
        "absent": (licensee(), None),
    }
    lic, user = claims[case]
    assert verified_user(SERVER_SECRET, lic, user) is None


@pytest.mark.parametrize(
    ("user_id", "ok"),
    [
        ("a", True),
        ("x" * 128, True),
        ("42", True),
        ("user@example.com", True),
        ("", False),
        ("x" * 129, False),
        ("a\nb", False),
        ("a\x00b", False),
        ("\ud800", False),
    ],
)
def test_user_ids_are_1_to_128_characters_without_controls(user_id: str, ok: bool) -> None:
    assert valid_user_id(user_id) is ok
    if ok:
        digest = user_hash(identity_secret(SERVER_SECRET, "lic_a", 0), user_id)
        assert verified_user(SERVER_SECRET, licensee(), claim(user_id, digest)) == user_id
    else:  # refused before any hashing: a lone surrogate cannot even be encoded
        assert verified_user(SERVER_SECRET, licensee(), claim(user_id, "ab" * 32)) is None


def test_derived_visitor_ids_look_like_new_ids_and_are_stable() -> None:
    one = visitor_id_for(SERVER_SECRET, "lic_a", "u1")
    assert VISITOR_ID.fullmatch(one)
    assert VISITOR_ID.fullmatch(new_id("v"))
    assert len(one) == len(new_id("v"))
    assert visitor_id_for(SERVER_SECRET, "lic_a", "u1") == one
    assert visitor_id_for(SERVER_SECRET, "lic_b", "u1") != one
    assert visitor_id_for(SERVER_SECRET, "lic_a", "u2") != one
    assert visitor_id_for("t" * 40, "lic_a", "u1") != one


# ------------------------------------------------------------------ hello.user on the wire


def hello(**extra: Any) -> Hello:
    frame = parse_client_frame(json.dumps({"type": "hello", "visitor": None, **extra}))
    assert isinstance(frame, Hello)
    return frame


def test_hello_user_is_optional_and_parsed() -> None:
    assert hello().user is None
    parsed = hello(user={"id": "u1", "hash": "ab" * 32, "name": "ignored"}).user
    assert parsed == UserClaim(id="u1", hash="ab" * 32)


@pytest.mark.parametrize(
    "user",
    [
        None,
        "u1",
        7,
        True,
        [],
        {},
        {"id": "u1"},
        {"id": 1, "hash": "ab"},
        {"id": "u1", "hash": 5},
        {"id": "", "hash": "ab"},
        {"id": "x" * 129, "hash": "ab"},
        {"id": "u1", "hash": "a" * 129},
    ],
)
def test_a_malformed_hello_user_is_dropped_not_refused(user: object) -> None:
    assert hello(user=user).user is None


# ------------------------------------------------------------------ storage


def test_an_end_user_is_recorded_once_and_rotation_bumps_the_epoch(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    t = make_tenant()
    lic = t.licensee.id
    vid = visitor_id_for(SERVER_SECRET, lic, "u1")
    at = datetime(2026, 2, 3, 4, 0, tzinfo=UTC)
    assert not db.read(lambda conn: is_recorded(conn, lic, vid))
    for _ in range(3):
        db.writer.run(lambda conn: record_end_user(conn, lic, vid, "u1", at))
    assert db.read(lambda conn: is_recorded(conn, lic, vid))
    table = table_of(EndUser)
    assert db.read(lambda conn: conn.execute(select(func.count()).select_from(table)).scalar()) == 1
    assert db.read(lambda conn: conn.execute(select(table.c.user_id)).scalars().all()) == ["u1"]

    with db.session() as session:
        before = session.get(Licensee, lic)
        assert before is not None and before.identity_epoch == 0
        rotated = rotate(session, lic, at)
        session.commit()
    assert rotated.identity_epoch == 1
    assert rotated.updated_at == at


def test_month_usage_names_the_end_user_of_identified_visitors(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    a, b = make_tenant("A"), make_tenant("B")
    at = datetime(2026, 2, 3, 4, 0, tzinfo=UTC)
    known = visitor_id_for(SERVER_SECRET, a.licensee.id, "u1")
    keys = table_of(ApiKey).c

    def seed(conn: Any) -> list[str]:
        record_end_user(conn, a.licensee.id, known, "u1", at)
        # A row of licensee B says nothing about A's visitor of the same id.
        record_end_user(conn, b.licensee.id, "v_other", "u9", at)
        key = conn.execute(
            select(keys.id).where(keys.licensee_id == a.licensee.id, keys.kind == "live")
        ).scalar_one()
        ids = []
        for visitor in (known, "v_anonymous", "v_other"):
            who = Speaker(a.licensee.id, visitor, key, False, False, UnitPolicy())
            ids.append(units.record_visitor_message(conn, who, "c1", "hi", at).conversation.id)
        return ids

    identified, anonymous, other = db.writer.run(seed)
    lines = {
        line.id: line for line in db.read(lambda c: month_usage(c, a.licensee, "2026-02")).lines
    }
    assert lines[identified].end_user == "u1"
    assert lines[identified].as_row()[-1] == "u1"
    assert lines[anonymous].end_user is None
    assert lines[other].end_user is None
