"""Settings: read once from ``KEFU_`` variables (or ``.env``), validated, and passed down."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from core.errors import ConfigError

SECRET_FILE_NAME = ".kefu-secret"  # noqa: S105 - a file name, not a secret
_KNOWN_BAD_SECRETS = {"changeme", "change-me", "secret", "kefu", "password", "development"}
MIN_SECRET_CHARS = 32


class Settings(BaseSettings):
    """Every setting of the product; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix="KEFU_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///kefu.db"
    secret_key: SecretStr | None = None
    redis_url: str | None = None
    # Prefix of every Redis key and channel: several installations may share one Redis.
    redis_prefix: str = "kefu:"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_url: str | None = None  # how browsers reach this server; guessed from requests if unset
    product_name: str = "Kefu"
    product_name_zh: str = "Kefu 智能客服"

    # Conversations (= usage units).
    default_idle_timeout_minutes: int = Field(30, ge=5, le=24 * 60)
    sweep_interval_seconds: float = Field(5.0, gt=0, le=60)
    # One check costs about 2.4 ms of CPU with 200 sockets of 20 licensees, 7.6 ms with 2,000 of
    # 200 (bench/licence_watch.py): at 1 s that is 0.2-0.8 % of a core; 0.5 s doubles it.
    licence_watch_interval_seconds: float = Field(1.0, gt=0, le=60)
    # How often each process checks it still leads the jobs, or takes the lead from one that
    # died (PostgreSQL): a dead leader is replaced within about this.
    leader_check_seconds: float = Field(1.0, gt=0, le=60)
    # A process leads only this long after its last check that reached the database, and one
    # that has just taken the lead waits this long first (core.db.leader): never two leaders at
    # once, at the price of a takeover this much later. Longer than the check interval.
    leader_lease_seconds: float = Field(2.0, gt=0, le=600)
    # `kefu serve --workers N`: a worker that does not answer its supervisor's ping this long is
    # killed and replaced (a wedged process); a busy machine may take seconds to start one.
    worker_healthcheck_seconds: int = Field(30, ge=1, le=600)
    # A unit's stored size: the visitor message after this many starts a new unit.
    max_conversation_messages: int = Field(1000, ge=10, le=100_000)
    # Test units (pk_test_ keys) a licensee may start per day of its time zone: PRODUCT.md says
    # at most 100, so it can only be lowered.
    test_conversations_per_day: int = Field(100, ge=0, le=100)
    # Messages a welcome carries; earlier ones come page by page (the `history` frame).
    welcome_history: int = Field(50, ge=1, le=500)
    # Chat over HTTP: how long the first request with an Idempotency-Key has to store its
    # message (milliseconds, normally) before a retry may take the key over, the first request
    # being presumed dead. Generous, since a holder still alive past it would store twice.
    api_idempotency_lease_seconds: float = Field(30.0, gt=0, le=3600)

    # Rate limits, as "COUNT/PERIOD" (e.g. "20/10s", "600/min").
    rate_visitor_messages: str = "20/10s"
    rate_key_messages: str = "3000/10s"
    rate_visitor_conversations: str = "20/h"
    rate_key_conversations: str = "1200/min"
    rate_visitor_hellos: str = "30/min"
    rate_address_hellos: str = "600/min"
    # Console sign-in attempts per client address (on top of the lock-out of an account after
    # 5 wrong passwords): one address cannot try passwords across many accounts.
    rate_address_logins: str = "10/min"

    # Per address (the client's IP, as the proxy reports it: README), per licensee: one address
    # cannot spend a key's whole budget. Sockets opened with a secret key are the licensee's own
    # server and are not counted.
    max_sockets_per_address: int = Field(50, ge=1)
    rate_address_messages: str = "300/10s"
    # Refusals (bad frames, rate-limited frames) one address may cause; past it, the socket is
    # closed and the address's new sockets get 429 before any work (bot/chat/penalties.py).
    rate_address_refusals: str = "30/min"

    # Threads for answers' CPU work (retrieval), licensees taking turns (bot/chat/workpool.py).
    work_threads: int = Field(2, ge=1, le=64)

    # WebSocket transport.
    ws_ping_interval_seconds: float = Field(20.0, gt=0)
    ws_ping_timeout_seconds: float = Field(20.0, gt=0)
    # Connections that never finish their HTTP request, and sockets that never say hello, are
    # closed after these (generous: a phone on a slow network needs well under a second).
    handshake_timeout_seconds: float = Field(10.0, gt=0)
    hello_timeout_seconds: float = Field(10.0, gt=0)
    # Proxies trusted to say the client's address (X-Forwarded-For), as uvicorn's
    # --forwarded-allow-ips: comma-separated addresses or networks, or "*".
    forwarded_allow_ips: str = "127.0.0.1"

    # SQLite durability: FULL fsyncs every group commit (survives power loss, not only kill -9).
    sqlite_synchronous: str = "FULL"
    # Connections each process keeps to the database (as many again may be opened in a burst),
    # and how long a request waits for one before it fails ("unavailable").
    db_pool_size: int = Field(8, ge=1, le=200)
    db_pool_timeout_seconds: float = Field(10.0, gt=0)
    # PostgreSQL: writes in this many transactions at once (0: SQLite's group commit, one
    # thread). 8 took 435 writes/s against the group commit's 277 on a loaded 2-core machine
    # (bench/pg_writes.py, one run, load 14-16; docs/benchmarks.md). Needs db_pool_size >= it.
    db_write_threads: int = Field(8, ge=0, le=200)

    # Platform default model (issue "Swappable model backends"); unset = built-in answerer only.
    # A licensee's own models (`kefu model set`) replace these for that licensee.
    model_provider: str = "openai"  # "openai" (any OpenAI-compatible API) or "ollama"
    model_base_url: str | None = None
    model_name: str | None = None
    model_api_key: SecretStr | None = None
    # An optional second platform model, tried when the first fails.
    model_fallback_provider: str = "openai"
    model_fallback_base_url: str | None = None
    model_fallback_name: str | None = None
    model_fallback_api_key: SecretStr | None = None
    model_first_token_timeout_seconds: float = Field(10.0, gt=0)
    model_timeout_seconds: float = Field(60.0, gt=0)

    # Retrieval: "builtin" fuses the lexical index with the offline multilingual sentence encoder
    # installed with the product (loaded in the background at start-up); "off" is lexical only;
    # "openai" (any OpenAI-compatible /v1/embeddings) or "ollama" (/api/embed) asks the
    # embeddings endpoint below, falling back to the built-in encoder if it is unusable at
    # start, and to lexical scores for any question it fails on.
    retrieval_encoder: str = "builtin"
    retrieval_embeddings_base_url: str | None = None
    retrieval_embeddings_model: str | None = None
    retrieval_embeddings_api_key: SecretStr | None = None
    retrieval_embeddings_timeout_seconds: float = Field(2.0, gt=0, le=60)

    # Billing: the payee printed on every statement (the licensor), and the days after a month
    # ends before the billing job issues its statements (drafts can be checked meanwhile).
    billing_payee_name: str = "Kefu"
    billing_payee_tax_id: str = ""
    billing_payee_address: str = ""
    billing_payee_bank: str = ""
    billing_payee_account: str = ""
    billing_issue_grace_days: int = Field(3, ge=0, le=4)  # issued before the 5th, its due date
    billing_check_interval_seconds: float = Field(60.0, gt=0, le=3600)

    # Lapsed licences: where the export archives are written before a licensee's data is purged
    # (unset: "kefu-archives" beside an SQLite database, else in the working directory), and how
    # often the closing job looks for due work (it catches up on whatever is due at once).
    archive_dir: Path | None = None
    closure_interval_seconds: float = Field(300.0, gt=0, le=86_400)
    # How often the leader refreshes the reports' daily figures (core/reporting/daily.py).
    reports_refresh_interval_seconds: float = Field(60.0, gt=0, le=3600)

    # Content filter: a word list file (one term per line); unset = the built-in list.
    filter_words_file: Path | None = None

    # Operations (docs/deploy.md). Logs: "text" for a terminal, "json" for one object a line.
    log_format: str = "text"
    log_level: str = "INFO"
    # Prometheus metrics at /metrics (off: no counting, no endpoint). With a token, a scrape must
    # send it as a bearer token; without one, only loopback clients are answered.
    metrics: bool = True
    # Freeze what lives as long as the process out of the garbage collector's full passes (after
    # start-up and index builds): they stalled every socket for 0.2-1 s (bot.collector).
    gc_freeze: bool = True
    metrics_token: SecretStr | None = None
    # /readyz gives each dependency (the database, Redis) this long to answer.
    readiness_timeout_seconds: float = Field(2.0, gt=0, le=30)

    @field_validator("model_provider", "model_fallback_provider")
    @classmethod
    def _check_provider(cls, value: str) -> str:
        value = value.lower()
        if value not in {"openai", "ollama"}:
            raise ValueError("must be openai or ollama")
        return value

    @field_validator("retrieval_encoder")
    @classmethod
    def _check_encoder(cls, value: str) -> str:
        value = value.lower()
        if value not in {"builtin", "off", "openai", "ollama"}:
            raise ValueError("must be builtin, off, openai or ollama")
        return value

    @model_validator(mode="after")
    def _check_lease(self) -> Settings:
        if self.leader_lease_seconds <= self.leader_check_seconds:
            raise ValueError(
                "KEFU_LEADER_LEASE_SECONDS must be longer than KEFU_LEADER_CHECK_SECONDS "
                "(a leader renews its lease at every check)"
            )
        return self

    @model_validator(mode="after")
    def _check_embeddings(self) -> Settings:
        if self.retrieval_encoder in {"openai", "ollama"} and not (
            self.retrieval_embeddings_base_url and self.retrieval_embeddings_model
        ):
            raise ValueError(
                f"KEFU_RETRIEVAL_ENCODER={self.retrieval_encoder} needs "
                "KEFU_RETRIEVAL_EMBEDDINGS_BASE_URL and KEFU_RETRIEVAL_EMBEDDINGS_MODEL"
            )
        return self

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        value = value.lower()
        if value not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_sync(cls, value: str) -> str:
        value = value.upper()
        if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be OFF, NORMAL, FULL or EXTRA")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret(self) -> str:
        if self.secret_key is None:
            raise ConfigError("no secret key: use load_settings()")
        return self.secret_key.get_secret_value()


def archive_directory(settings: Settings) -> Path:
    """Where lapsed licensees' export archives go (the ``archive_dir`` setting, or a default)."""
    if settings.archive_dir is not None:
        return settings.archive_dir.expanduser()
    return _secret_file(settings.database_url).parent / "kefu-archives"


def _secret_file(database_url: str) -> Path:
    """The generated secret lives beside an SQLite database, else in the working directory."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / SECRET_FILE_NAME
    return Path.cwd() / SECRET_FILE_NAME


def check_secret(secret: str) -> None:
    if len(secret) < MIN_SECRET_CHARS or secret.strip().lower() in _KNOWN_BAD_SECRETS:
        raise ConfigError(
            f"KEFU_SECRET_KEY must be a random string of at least {MIN_SECRET_CHARS} characters"
        )


def _read_or_create_secret(path: Path) -> str:
    """The secret kept at ``path``, created atomically on first run.

    Written to a private temporary file and then hard-linked into place, so two first runs at
    once agree on one secret and nobody ever reads a half-written file.
    """
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kefu-secret-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):  # another first run won: use its secret
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text(encoding="utf-8").strip()


def load_settings(**overrides: object) -> Settings:
    """Build the one Settings object; generate and keep a secret when none is configured."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        path = _secret_file(settings.database_url)
        secret = _read_or_create_secret(path)
        settings = settings.model_copy(update={"secret_key": SecretStr(secret)})
    check_secret(settings.secret())
    return settings
