"""Verified end-user identity (``hello.user``): identity secrets, user hashes, derived visitors.

A licensee's own server vouches for its logged-in user with
``hex(HMAC-SHA256(identity secret, user id))``, as in Intercom's identity verification or
Chatwoot's ``identifier_hash``. The identity secret is never stored: it is derived from the
server secret, the licensee id and the licensee's ``identity_epoch``, so rotating it is bumping
the epoch, and a leaked database does not leak it.

A verified user is one visitor per licensee, whatever the device: the visitor id is derived
from (licensee, user id) with the server secret, in the layout of ``new_id("v")``, so the usual
visitor token carries it and every rule keyed on the visitor (one open unit, history, rate
limits) applies to the user. ``end_users`` remembers which user a derived visitor id stands
for, written once at the user's first verified ``hello``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlmodel import Session

from core.chat.frames import MAX_USER_ID_CHARS, UserClaim
from core.db.tables import EndUser, Licensee, table_of
from core.ids import sign
from core.licensing.licensees import get_licensee

IDENTITY_SECRET_PREFIX = "idv_"  # noqa: S105 - a prefix, not a secret
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_VISITOR_ID_CHARS = 26  # as many as new_id() puts after its prefix

_end_users = table_of(EndUser)
E = _end_users.c
_SEEN = select(E.user_id).where(E.licensee_id == bindparam("lic"), E.visitor_id == bindparam("vis"))


def _hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def identity_secret(server_secret: str, licensee_id: str, epoch: int) -> str:
    """The licensee's identity secret: ``idv_`` + hex HMAC-SHA256 of the server secret."""
    return IDENTITY_SECRET_PREFIX + _hmac_hex(server_secret, f"identity:{licensee_id}:{epoch}")


def user_hash(secret: str, user_id: str) -> str:
    """What the licensee's server computes: hex HMAC-SHA256 keyed with the whole ``idv_…``."""
    return _hmac_hex(secret, user_id)


def valid_user_id(user_id: str) -> bool:
    """1 to 128 characters, none of them a control character or a lone surrogate."""
    return 1 <= len(user_id) <= MAX_USER_ID_CHARS and not any(
        unicodedata.category(ch) in ("Cc", "Cs") for ch in user_id
    )


def verified_user(server_secret: str, licensee: Licensee, claim: UserClaim | None) -> str | None:
    """The claimed user id when its hash proves it for ``licensee`` now, else None."""
    if claim is None or not valid_user_id(claim.id) or not _HEX_SHA256.fullmatch(claim.hash):
        return None
    secret = identity_secret(server_secret, licensee.id, licensee.identity_epoch)
    expected = user_hash(secret, claim.id)
    return claim.id if hmac.compare_digest(expected, claim.hash.lower()) else None


def visitor_id_for(server_secret: str, licensee_id: str, user_id: str) -> str:
    """The one visitor id of a verified user at a licensee (not guessable without the secret).

    It does not depend on the epoch: rotating the identity secret must not split a user's
    conversations.
    """
    return "v_" + sign(server_secret, f"end-user:{licensee_id}:{user_id}", _VISITOR_ID_CHARS)


def rotate(session: Session, licensee_id: str, now: datetime) -> Licensee:
    """Bump the epoch: every hash made with the previous identity secret stops verifying."""
    licensee = get_licensee(session, licensee_id)
    licensee.identity_epoch += 1
    licensee.updated_at = now  # running servers pick the change up (the licence watcher)
    session.add(licensee)
    return licensee


# ------------------------------------------------------------------ end_users rows


def is_recorded(session: Session, licensee_id: str, visitor_id: str) -> bool:
    return session.execute(_SEEN, {"lic": licensee_id, "vis": visitor_id}).first() is not None


def record_end_user(
    session: Session, licensee_id: str, visitor_id: str, user_id: str, now: datetime
) -> None:
    """Remember which user a derived visitor id stands for (once; a race re-runs and skips)."""
    if is_recorded(session, licensee_id, visitor_id):
        return
    session.execute(
        insert(_end_users).values(
            licensee_id=licensee_id, visitor_id=visitor_id, user_id=user_id, first_seen_at=now
        )
    )
