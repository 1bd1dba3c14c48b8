"""Licensees, keys, origins, service period, prices and settings (the licence terms)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import select as orm_select

from core.db.engine import Database
from core.db.tables import ApiKey, KeyKind, LicenceStatus, Licensee
from core.errors import (
    AuthError,
    ConfigError,
    Conflict,
    InvalidInput,
    LicenceUnavailable,
    NotFound,
    OriginRefused,
)
from core.licensing.licensees import (
    authenticate_chat,
    authenticate_key,
    check_idle_timeout,
    create_licensee,
    licence_availability,
    list_origins,
    named,
    parse_price,
    revoke_key,
    set_status,
)
from core.licensing.origins import normalise_origin, normalise_pattern, origin_allowed
from core.licensing.service_period import TermState, add_months, default_period, term_state
from core.settings import SECRET_FILE_NAME, load_settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORIGIN = "https://shop.example.com"


def api_key_rows(db: Database) -> list[tuple[Any, ...]]:
    table = ApiKey.__table__  # type: ignore[attr-defined]
    return [tuple(row) for row in db.read(lambda conn: conn.execute(select(table)).all())]


# ------------------------------------------------------------------------------ creating


def test_create_licensee_issues_prefixed_keys_and_stores_only_hashes(db: Database) -> None:
    with db.session() as session:
        licensee, keys = create_licensee(session, name="  Shop  ", origins=[ORIGIN], now=NOW)
        session.commit()

    assert licensee.name == "Shop"
    assert keys.site_key.startswith("pk_live_")
    assert keys.test_site_key.startswith("pk_test_")
    assert keys.secret_key.startswith("sk_live_")
    assert len({keys.site_key, keys.test_site_key, keys.secret_key}) == 3
    assert len(keys.secret_key) >= len("sk_live_") + 24

    rows = api_key_rows(db)
    assert len(rows) == 3
    everything = " ".join(str(cell) for row in rows for cell in row)
    # The secret key is in the table only as its SHA-256: neither whole nor its random part.
    assert keys.secret_key not in everything
    assert keys.secret_key[len("sk_live_") :] not in everything
    assert keys.secret_key[12:] not in everything
    with db.read_session() as session:
        stored = {
            k.kind: k
            for k in session.exec(orm_select(ApiKey).where(ApiKey.licensee_id == licensee.id))
        }
    for kind, token in (
        (KeyKind.LIVE, keys.site_key),
        (KeyKind.TEST, keys.test_site_key),
        (KeyKind.SECRET, keys.secret_key),
    ):
        assert stored[kind].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored[KeyKind.SECRET].display != keys.secret_key


def test_create_licensee_normalises_origins_and_refuses_bad_input(db: Database) -> None:
    with db.session() as session:
        licensee, _keys = create_licensee(
            session,
            name="Shop",
            origins=["HTTPS://Shop.Example.com:443/", "https://shop.example.com"],
            now=NOW,
        )
        session.commit()
    with db.read_session() as session:
        assert list_origins(session, licensee.id) == ["https://shop.example.com"]
        with pytest.raises(InvalidInput):
            create_licensee(session, name="   ", origins=[ORIGIN], now=NOW)
        with pytest.raises(InvalidInput):
            create_licensee(session, name="X", origins=["ftp://x.com"], now=NOW)
        with pytest.raises(InvalidInput):
            create_licensee(
                session,
                name="X",
                origins=[ORIGIN],
                now=NOW,
                start=date(2026, 5, 1),
                end=date(2026, 4, 30),
            )
        with pytest.raises(InvalidInput):
            create_licensee(session, name="X", origins=[ORIGIN], now=NOW, timezone="Mars/Base")


def test_default_service_period_is_one_year_from_the_local_date(db: Database) -> None:
    # 16:30 UTC on 1 March is already 2 March in Shanghai.
    with db.session() as session:
        licensee, _ = create_licensee(
            session, name="Shop", origins=[ORIGIN], now=datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
        )
    assert (licensee.service_start, licensee.service_end) == (date(2026, 3, 2), date(2027, 3, 1))


def test_idle_timeout_out_of_range_is_refused(db: Database) -> None:
    for minutes in (4, 1441, 0, -30):
        with pytest.raises(InvalidInput):
            check_idle_timeout(minutes)
        with db.session() as session:
            with pytest.raises(InvalidInput):
                create_licensee(
                    session, name="Shop", origins=[ORIGIN], now=NOW, idle_timeout_minutes=minutes
                )
            session.rollback()
    with db.read_session() as session:
        assert session.exec(orm_select(Licensee)).all() == []


@pytest.mark.parametrize("minutes", [5, 30, 1440])
def test_idle_timeout_limits_are_inclusive(minutes: int) -> None:
    check_idle_timeout(minutes)


# ------------------------------------------------------------------------------ the handshake


@pytest.fixture
def tenant(make_tenant: Callable[..., Any]) -> Any:
    return make_tenant("Shop", origins=[ORIGIN, "https://*.example.org"])


def test_site_keys_from_an_allowed_origin_are_accepted(db: Database, tenant: Any) -> None:
    with db.read_session() as session:
        live = authenticate_chat(session, tenant.keys.site_key, ORIGIN, None)
        wild = authenticate_chat(session, tenant.keys.site_key, "https://a.example.org", None)
        trial = authenticate_chat(session, tenant.keys.test_site_key, ORIGIN, None)
        # The secret key is not a site key, even from an allowed origin.
        with pytest.raises(AuthError):
            authenticate_chat(session, tenant.keys.secret_key, ORIGIN, None)
        with pytest.raises(AuthError):
            authenticate_key(session, tenant.keys.site_key, {KeyKind.SECRET})
    assert live.licensee.id == wild.licensee.id == trial.licensee.id == tenant.licensee.id
    assert live.kind == KeyKind.LIVE and live.test is False
    assert trial.kind == KeyKind.TEST and trial.test is True


def test_unknown_key_is_auth_error(db: Database, tenant: Any) -> None:
    with db.read_session() as session:
        for key in (None, "", "pk_live_unknown", tenant.keys.site_key + "x", "x" * 500):
            with pytest.raises(AuthError):
                authenticate_chat(session, key, ORIGIN, None)


def test_revoked_key_is_auth_error(db: Database, tenant: Any) -> None:
    with db.session() as session:
        revoke_key(session, tenant.keys.site_key, NOW)
        session.commit()
    with db.read_session() as session:
        with pytest.raises(AuthError):
            authenticate_chat(session, tenant.keys.site_key, ORIGIN, None)
        # The other keys of the licensee still work.
        assert authenticate_chat(session, tenant.keys.test_site_key, ORIGIN, None).test


def test_revoked_licence_keys_stop_working(db: Database, tenant: Any) -> None:
    with db.session() as session:
        set_status(session, tenant.licensee.id, LicenceStatus.REVOKED, NOW)
        session.commit()
    with db.read_session() as session:
        with pytest.raises(AuthError):
            authenticate_chat(session, tenant.keys.site_key, ORIGIN, None)
        with pytest.raises(AuthError):
            authenticate_key(session, tenant.keys.secret_key, {KeyKind.SECRET})


REFUSED_ORIGINS = [
    "https://shop.example.evil.com",
    "https://shop.example.com.evil.com",
    "http://shop.example.com",
    "https://shop.example.com:8443",
    "https://example.com",
    "https://example.org",
    "null",
    "",
    None,
]


def test_origin_not_allowed_is_refused(db: Database, tenant: Any) -> None:
    with db.read_session() as session:
        for origin in REFUSED_ORIGINS:
            for key in (tenant.keys.site_key, tenant.keys.test_site_key):
                with pytest.raises(OriginRefused):
                    authenticate_chat(session, key, origin, None)
        # An Origin header with a secret key is a browser: the secret key does not help.
        with pytest.raises(AuthError):
            authenticate_chat(session, None, "https://evil.example", tenant.keys.secret_key)


def test_secret_key_without_origin(
    db: Database, tenant: Any, make_tenant: Callable[..., Any]
) -> None:
    other = make_tenant("Other")
    with db.read_session() as session:
        # A server-side client with its secret key and no Origin chats as a live end user.
        ctx = authenticate_chat(session, None, None, tenant.keys.secret_key)
        assert ctx.licensee.id == tenant.licensee.id
        assert ctx.kind == KeyKind.LIVE and ctx.test is False
        # With its own test site key, it chats as a test end user.
        assert authenticate_chat(
            session, tenant.keys.test_site_key, None, tenant.keys.secret_key
        ).test
        for secret in ("sk_live_wrong", tenant.keys.site_key):
            with pytest.raises(AuthError):
                authenticate_chat(session, None, None, secret)
        # Another licensee's site key does not ride on this secret key.
        with pytest.raises(AuthError):
            authenticate_chat(session, other.keys.site_key, None, tenant.keys.secret_key)


# ------------------------------------------------------------------------------ origins (pure)

WILDCARD = ["https://*.example.com"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://a.example.com",
        "https://a.b.example.com",
        "https://A.Example.COM",
        "https://a.example.com:443",
    ],
)
def test_wildcard_matches_subdomains(origin: str) -> None:
    assert origin_allowed(origin, WILDCARD)


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com",
        "https://shop.example.com.evil.com",
        "https://xexample.com",
        "https://a.xexample.com",
        "https://a.example.com:8443",
        "http://a.example.com",
        "https://.example.com",
        "https://a.example.com/path",
        "null",
        "",
    ],
)
def test_wildcard_does_not_match_other_origins(origin: str) -> None:
    assert not origin_allowed(origin, WILDCARD)


def test_exact_patterns_match_scheme_host_and_port() -> None:
    patterns = [
        normalise_pattern("https://shop.example.com"),
        normalise_pattern("http://x.cn:8080"),
    ]
    assert origin_allowed("https://shop.example.com", patterns)
    assert origin_allowed("https://SHOP.example.com:443", patterns)
    assert origin_allowed("http://x.cn:8080", patterns)
    assert not origin_allowed("http://x.cn", patterns)
    assert not origin_allowed("https://x.cn:8080", patterns)
    assert not origin_allowed("https://a.shop.example.com", patterns)
    assert not origin_allowed(None, patterns)


def test_wildcard_on_a_port_needs_that_port() -> None:
    patterns = [normalise_pattern("https://*.example.com:8443")]
    assert origin_allowed("https://a.example.com:8443", patterns)
    assert not origin_allowed("https://a.example.com", patterns)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://Shop.Example.COM:443/", "https://shop.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://*.Example.com", "https://*.example.com"),
        ("https://例子.中国", "https://xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_normalise_pattern(raw: str, canonical: str) -> None:
    assert normalise_pattern(raw) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        "example.com",
        "ftp://example.com",
        "https://",
        "https://example.com/path",
        "https://example.com?q=1",
        "https://example.com#x",
        "https://user@example.com",
        "https://example.com:99999",
        "https://*.com",
        "https://*",
        "https://a.*.example.com",
        "https://*example.com",
        "https://*.*.example.com",
    ],
)
def test_normalise_pattern_errors(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_pattern(bad)


def test_a_request_origin_may_not_be_a_wildcard() -> None:
    assert normalise_origin("https://*.example.com") is None
    assert not origin_allowed("https://*.example.com", WILDCARD)


# ------------------------------------------------------------------------------ service period


def test_term_state_in_beyond_and_lapsed() -> None:
    end = date(2026, 6, 30)
    assert term_state(end, date(2025, 7, 1)) == TermState.IN_TERM
    assert term_state(end, end) == TermState.IN_TERM
    assert term_state(end, date(2026, 7, 1)) == TermState.BEYOND_TERM
    assert term_state(end, date(2026, 7, 30)) == TermState.BEYOND_TERM  # one month after
    assert term_state(end, date(2026, 7, 31)) == TermState.LAPSED
    assert term_state(date(2026, 1, 31), date(2026, 2, 28)) == TermState.BEYOND_TERM
    assert term_state(date(2026, 1, 31), date(2026, 3, 1)) == TermState.LAPSED


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2026, 5, 31), 12, date(2027, 5, 31)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_month_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_default_period_is_inclusive() -> None:
    assert default_period(date(2026, 3, 2)) == (date(2026, 3, 2), date(2027, 3, 1))
    assert default_period(date(2028, 2, 29)) == (date(2028, 2, 29), date(2029, 2, 27))


def _licensee(make_tenant: Callable[..., Any], **kw: Any) -> Any:
    return make_tenant(
        "Shop", now=NOW, start=date(2025, 7, 1), end=date(2026, 6, 30), **kw
    ).licensee


def test_licence_availability_follows_the_local_date(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    licensee = _licensee(make_tenant)
    # 30 June 23:59:59 in Shanghai is 15:59:59 UTC; a second later it is 1 July there.
    last_day = datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)
    assert licence_availability(licensee, last_day) == TermState.IN_TERM
    assert licence_availability(licensee, last_day + timedelta(seconds=1)) == TermState.BEYOND_TERM
    assert licence_availability(licensee, datetime(2026, 7, 30, 12, tzinfo=UTC)) == "beyond_term"
    with pytest.raises(LicenceUnavailable) as lapsed:
        licence_availability(licensee, datetime(2026, 7, 30, 16, tzinfo=UTC))  # 31 July local
    assert lapsed.value.kind == "revoked"


def test_licence_availability_refuses_suspended_and_revoked(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    licensee = _licensee(make_tenant)
    with db.session() as session:
        suspended = set_status(session, licensee.id, LicenceStatus.SUSPENDED, NOW)
        session.commit()
    with pytest.raises(LicenceUnavailable) as exc:
        licence_availability(suspended, NOW)
    assert exc.value.kind == "suspended"
    with db.session() as session:
        revoked = set_status(session, licensee.id, LicenceStatus.REVOKED, NOW)
        session.commit()
    with pytest.raises(LicenceUnavailable) as exc:
        licence_availability(revoked, NOW)
    assert exc.value.kind == "revoked"
    with db.session() as session:
        active = set_status(session, licensee.id, LicenceStatus.ACTIVE, NOW)
        session.commit()
    assert licence_availability(active, NOW) == TermState.IN_TERM
    with db.session() as session, pytest.raises(NotFound):
        set_status(session, "lic_nope", LicenceStatus.SUSPENDED, NOW)


# ------------------------------------------------------------------------------ prices


@pytest.mark.parametrize("bad", ["-0.01", "abc", "0.00001", "NaN", "Infinity"])
def test_bad_unit_price_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_price(bad)


# ------------------------------------------------------------------------------ settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # no stray .env file is read
    return tmp_path


def test_load_settings_generates_a_secret_beside_the_sqlite_db_and_reuses_it(
    clean_env: Path,
) -> None:
    url = f"sqlite:///{clean_env}/data/kefu.db"

    first = load_settings(database_url=url)
    secret_file = clean_env / "data" / SECRET_FILE_NAME
    assert secret_file.is_file()
    assert secret_file.read_text(encoding="utf-8").strip() == first.secret()
    assert len(first.secret()) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert not (clean_env / "cwd" / SECRET_FILE_NAME).exists()

    second = load_settings(database_url=url)
    assert second.secret() == first.secret()


def test_an_empty_secret_variable_also_generates_one(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEFU_SECRET_KEY", "")
    monkeypatch.setenv("KEFU_DATABASE_URL", f"sqlite:///{clean_env}/kefu.db")
    settings = load_settings()
    assert len(settings.secret()) >= 32
    assert (clean_env / SECRET_FILE_NAME).read_text(encoding="utf-8").strip() == settings.secret()


def test_two_databases_get_different_generated_secrets(clean_env: Path) -> None:
    a = load_settings(database_url=f"sqlite:///{clean_env}/a/kefu.db")
    b = load_settings(database_url=f"sqlite:///{clean_env}/b/kefu.db")
    assert a.secret() != b.secret()


def test_a_configured_secret_is_used_and_no_file_written(clean_env: Path) -> None:
    secret = "k" * 20 + "0123456789abcdefghij"
    settings = load_settings(database_url=f"sqlite:///{clean_env}/kefu.db", secret_key=secret)
    assert settings.secret() == secret
    assert not (clean_env / SECRET_FILE_NAME).exists()


@pytest.mark.parametrize("secret", ["changeme", "short", "x" * 31, "secret", "password"])
def test_short_or_known_secrets_are_refused(clean_env: Path, secret: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(database_url=f"sqlite:///{clean_env}/kefu.db", secret_key=secret)


def test_known_secret_from_the_environment_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEFU_SECRET_KEY", "changeme")
    with pytest.raises(ConfigError):
        load_settings(database_url=f"sqlite:///{clean_env}/kefu.db")


def test_a_tampered_short_secret_file_is_refused(clean_env: Path) -> None:
    (clean_env / SECRET_FILE_NAME).write_text("changeme\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(database_url=f"sqlite:///{clean_env}/kefu.db")


def test_a_secret_another_first_run_wrote_meanwhile_is_reused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first runs at once on a fresh install (say two CLI commands from a deploy script):
    the other one puts its file in place after our ``exists()`` check, just before ours.
    Both must end up with the one kept secret, not with FileExistsError."""
    path = clean_env / SECRET_FILE_NAME
    theirs = "t" * 20 + "0123456789abcdefghijklmnopqrst"
    real_link = os.link

    def racing_link(src: Any, dst: Any, **kw: Any) -> None:
        if Path(dst) == path and not path.exists():
            path.write_text(theirs + "\n", encoding="utf-8")  # the other process wins
        real_link(src, dst, **kw)

    monkeypatch.setattr(os, "link", racing_link)
    settings = load_settings(database_url=f"sqlite:///{clean_env}/kefu.db")
    assert settings.secret() == theirs
    assert sorted(p.name for p in clean_env.iterdir() if p.name.startswith(".kefu")) == [
        SECRET_FILE_NAME
    ]  # no temporary file left behind


def test_invalid_settings_are_config_errors(clean_env: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(database_url=f"sqlite:///{clean_env}/kefu.db", default_idle_timeout_minutes=4)


# ------------------------------------------------------------------------------ names


def test_a_name_taken_ignoring_case_is_refused_unless_asked(db: Database) -> None:
    with db.session() as session:
        first, _ = create_licensee(session, name="Example Shop", origins=[ORIGIN], now=NOW)
        for twin in ("example shop", "EXAMPLE SHOP", " Example Shop "):
            with pytest.raises(Conflict, match=first.id):
                create_licensee(session, name=twin, origins=[ORIGIN], now=NOW)
        again, _ = create_licensee(
            session, name="example SHOP", origins=[ORIGIN], now=NOW, allow_duplicate_name=True
        )
        session.commit()
    assert again.id != first.id
    with db.read_session() as session:
        assert named(session, "EXAMPLE shop") == first  # the oldest of the two
        assert named(session, "Other") is None
