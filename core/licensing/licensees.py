"""Licensees, their keys and allowed origins: creating, looking up and changing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, select

from core.db.tables import AllowedOrigin, ApiKey, KeyKind, LicenceStatus, Licensee, PriceSchedule
from core.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    LicenceUnavailable,
    NotFound,
    OriginRefused,
)
from core.ids import new_id, new_token, token_hash
from core.licensing.origins import normalise_pattern, origin_allowed
from core.licensing.service_period import TermState, default_period, local_date, term_state, zone

KEY_PREFIXES = {KeyKind.LIVE: "pk_live_", KeyKind.TEST: "pk_test_", KeyKind.SECRET: "sk_live_"}
MIN_IDLE_MINUTES, MAX_IDLE_MINUTES = 5, 24 * 60


@dataclass(frozen=True, slots=True)
class CreatedKeys:
    site_key: str
    test_site_key: str
    secret_key: str


@dataclass(frozen=True, slots=True)
class KeyContext:
    """Who is on the other end of a request: the licensee and the key it used."""

    licensee: Licensee
    key_id: str
    kind: KeyKind
    origins: tuple[str, ...]
    secret_key_id: str | None = None  # a server-side chat opened with its secret key

    @property
    def test(self) -> bool:
        return self.kind == KeyKind.TEST

    @property
    def credentials(self) -> tuple[str, ...]:
        """Every key this was opened with: revoking any one of them ends what it opened."""
        return (self.key_id,) if self.secret_key_id is None else (self.key_id, self.secret_key_id)


def parse_price(value: str | Decimal) -> Decimal:
    try:
        price = Decimal(value)
    except (InvalidOperation, TypeError):
        raise InvalidInput(
            f"not a price: {value!r}", code="price.not_a_price", value=value
        ) from None
    if not price.is_finite() or price < 0 or price.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInput(
            f"a unit price is >= 0 with at most 4 decimals: {value}",
            code="price.bad_unit_price",
            value=value,
        )
    return price


def issue_key(session: Session, licensee_id: str, kind: KeyKind, now: datetime) -> str:
    """Create a key and return its plaintext: the only time a secret key is ever shown."""
    token = new_token(KEY_PREFIXES[kind])
    display = token if kind != KeyKind.SECRET else token[:12] + "…"
    session.add(
        ApiKey(
            id=new_id("key"),
            licensee_id=licensee_id,
            kind=kind,
            token_hash=token_hash(token),
            display=display,
            created_at=now,
        )
    )
    return token


def create_licensee(
    session: Session,
    *,
    name: str,
    origins: list[str],
    now: datetime,
    unit_price: Decimal = Decimal("0.50"),
    start: date | None = None,
    end: date | None = None,
    timezone: str = "Asia/Shanghai",
    idle_timeout_minutes: int = 30,
    allow_duplicate_name: bool = False,
) -> tuple[Licensee, CreatedKeys]:
    """A licensee with its origins, unit price and three keys (live, test, secret).

    A name another licensee has already (ignoring case) is refused unless
    ``allow_duplicate_name``: a second "Example Shop" is far more often a typo or a re-run
    than a second business of that name."""
    name = name.strip()
    if not name:
        raise InvalidInput("a licensee needs a name", code="licensee.name_missing")
    if not allow_duplicate_name and (twin := named(session, name)) is not None:
        raise Conflict(
            f"licensee {twin.id} is already named {twin.name!r} (names are compared ignoring"
            " case); ask for a duplicate name explicitly if this is another business",
            code="licensee.name_taken",
            id=twin.id,
            name=twin.name,
        )
    zone(timezone)
    check_idle_timeout(idle_timeout_minutes)
    patterns = sorted({normalise_pattern(o) for o in origins})
    first, last = default_period(local_date(now, timezone))
    start = start or first
    end = end or (last if start == first else default_period(start)[1])
    if end < start:
        raise InvalidInput(
            "the service end date is before its start date", code="licensee.end_before_start"
        )
    licensee = Licensee(
        id=new_id("lic"),
        name=name,
        timezone=timezone,
        service_start=start,
        service_end=end,
        idle_timeout_minutes=idle_timeout_minutes,
        title=name,
        created_at=now,
        updated_at=now,
    )
    session.add(licensee)
    session.flush()
    for pattern in patterns:
        session.add(AllowedOrigin(licensee_id=licensee.id, pattern=pattern))
    session.add(
        PriceSchedule(
            licensee_id=licensee.id, effective_from=start, unit_price=parse_price(unit_price)
        )
    )
    keys = CreatedKeys(
        site_key=issue_key(session, licensee.id, KeyKind.LIVE, now),
        test_site_key=issue_key(session, licensee.id, KeyKind.TEST, now),
        secret_key=issue_key(session, licensee.id, KeyKind.SECRET, now),
    )
    session.flush()
    return licensee, keys


def named(session: Session, name: str) -> Licensee | None:
    """The licensee with this name, ignoring case (Unicode case folding, not SQL ``lower``,
    which SQLite applies to ASCII only); the oldest one if there are several."""
    wanted = name.strip().casefold()
    rows = session.exec(select(Licensee).order_by(col(Licensee.created_at)))
    return next((r for r in rows if r.name.casefold() == wanted), None)


def check_idle_timeout(minutes: int) -> None:
    if not MIN_IDLE_MINUTES <= minutes <= MAX_IDLE_MINUTES:
        raise InvalidInput(
            "the idle timeout is between 5 minutes and 24 hours", code="licensee.idle_timeout"
        )


def get_licensee(session: Session, licensee_id: str) -> Licensee:
    licensee = session.get(Licensee, licensee_id)
    if licensee is None:
        raise NotFound(f"no licensee {licensee_id!r}", code="licensee.not_found", id=licensee_id)
    return licensee


def update_licensee(
    session: Session,
    licensee_id: str,
    now: datetime,
    *,
    name: str | None = None,
    timezone: str | None = None,
    idle_timeout_minutes: int | None = None,
) -> Licensee:
    """Change a licensee's name, time zone or idle timeout (only the values given).

    The time zone decides its months and bills: a change is refused once a statement was
    issued in the old one, since that month's bounds would move under a frozen bill."""
    from core.billing.issued import last_issued_month_end  # billing reads licensees

    licensee = get_licensee(session, licensee_id)
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput(
                "a licensee's name has 1 to 200 characters", code="licensee.name_length"
            )
        licensee.name = name
    if timezone is not None and timezone != licensee.timezone:
        zone(timezone)
        if last_issued_month_end(session, licensee_id) is not None:
            raise InvalidInput(
                "the time zone cannot change once a statement was issued in the old one",
                code="licensee.zone_frozen",
            )
        licensee.timezone = timezone
    if idle_timeout_minutes is not None:
        check_idle_timeout(idle_timeout_minutes)
        licensee.idle_timeout_minutes = idle_timeout_minutes
    licensee.updated_at = now
    session.add(licensee)
    return licensee


def set_status(
    session: Session, licensee_id: str, status: LicenceStatus, now: datetime
) -> Licensee:
    licensee = get_licensee(session, licensee_id)
    licensee.status = status
    licensee.updated_at = now
    session.add(licensee)
    return licensee


def revoke_key(session: Session, key_or_id: str, now: datetime) -> ApiKey:
    key = session.exec(
        select(ApiKey).where(
            (ApiKey.id == key_or_id) | (ApiKey.token_hash == token_hash(key_or_id))
        )
    ).first()
    if key is None:
        raise NotFound("no such key", code="key.not_found")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        licensee = get_licensee(session, key.licensee_id)
        licensee.updated_at = now  # the running servers watch this to close the key's sockets
        session.add(licensee)
    return key


def list_origins(session: Session, licensee_id: str) -> list[str]:
    rows = session.exec(
        select(AllowedOrigin.pattern)
        .where(AllowedOrigin.licensee_id == licensee_id)
        .order_by(col(AllowedOrigin.pattern))
    )
    return list(rows)


def add_origin(session: Session, licensee_id: str, origin: str) -> str:
    get_licensee(session, licensee_id)
    pattern = normalise_pattern(origin)
    if pattern not in list_origins(session, licensee_id):
        session.add(AllowedOrigin(licensee_id=licensee_id, pattern=pattern))
    return pattern


def remove_origin(session: Session, licensee_id: str, origin: str) -> str:
    pattern = normalise_pattern(origin)
    row = session.exec(
        select(AllowedOrigin).where(
            AllowedOrigin.licensee_id == licensee_id, AllowedOrigin.pattern == pattern
        )
    ).first()
    if row is None:
        raise NotFound(
            f"{pattern} is not an allowed origin of {licensee_id}",
            code="origin.not_allowed_of",
            origin=pattern,
            id=licensee_id,
        )
    session.delete(row)
    return pattern


def check_keys_live(session: Session, key_ids: Sequence[str]) -> None:
    """Raise LicenceUnavailable("revoked") when any of the keys has been revoked.

    Called in the transaction that stores a message, so that a key revoked elsewhere stops
    billing at once, not only when the watcher closes its sockets."""
    revoked = session.exec(
        select(ApiKey.id).where(
            col(ApiKey.id).in_(list(key_ids)), col(ApiKey.revoked_at).is_not(None)
        )
    ).first()
    if revoked is not None:
        raise LicenceUnavailable("revoked", "this key has been revoked")


def licence_availability(licensee: Licensee, now: datetime) -> TermState:
    """Raise LicenceUnavailable when the licence may not serve; else say whether beyond term."""
    if licensee.status == LicenceStatus.SUSPENDED:
        raise LicenceUnavailable("suspended", "this service is suspended")
    state = term_state(licensee.service_end, local_date(now, licensee.timezone))
    if licensee.status == LicenceStatus.REVOKED or state == TermState.LAPSED:
        raise LicenceUnavailable("revoked", "this service is no longer available")
    return state


def authenticate_key(session: Session, token: str | None, kinds: set[KeyKind]) -> KeyContext:
    """Resolve a key to its licensee; unknown, revoked, lapsed or wrong-kind keys are AuthError."""
    if not token or len(token) > 200:
        raise AuthError("missing key")
    row = session.exec(select(ApiKey).where(ApiKey.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None or KeyKind(row.kind) not in kinds:
        raise AuthError("unknown or revoked key")
    licensee = get_licensee(session, row.licensee_id)
    if licensee.status == LicenceStatus.REVOKED:
        raise AuthError("unknown or revoked key")
    return KeyContext(
        licensee=licensee,
        key_id=row.id,
        kind=KeyKind(row.kind),
        origins=tuple(list_origins(session, licensee.id)),
    )


def authenticate_chat(
    session: Session, site_key: str | None, origin: str | None, bearer: str | None
) -> KeyContext:
    """The handshake check: a site key from an allowed origin, or a secret key with no Origin."""
    if origin is None and bearer:
        ctx = authenticate_key(session, bearer, {KeyKind.SECRET})
        if site_key:
            site = authenticate_key(session, site_key, {KeyKind.LIVE, KeyKind.TEST})
            if site.licensee.id != ctx.licensee.id:
                raise AuthError("the site key and the secret key belong to different licensees")
            return replace(site, secret_key_id=ctx.key_id)
        # A server-side client with only its secret key chats as a live (billed) end user.
        live = session.exec(
            select(ApiKey).where(
                ApiKey.licensee_id == ctx.licensee.id,
                ApiKey.kind == KeyKind.LIVE,
                col(ApiKey.revoked_at).is_(None),
            )
        ).first()
        if live is None:
            raise AuthError("the licensee has no live site key")
        return KeyContext(ctx.licensee, live.id, KeyKind.LIVE, ctx.origins, ctx.key_id)
    ctx = authenticate_key(session, site_key, {KeyKind.LIVE, KeyKind.TEST})
    if not origin_allowed(origin, list(ctx.origins)):
        raise OriginRefused("origin not allowed")
    return ctx
