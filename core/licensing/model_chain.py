"""Which models answer for a licensee: its own chain (``kefu model set``), else the platform's.

A chain is at most two model links tried in order; the built-in answerer is always the last link
and is added by the chat server, not stored. API keys are sealed at rest (``core.secret_box``)
and never shown back: ``describe`` says only whether one is set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from core.db.tables import LicenseeModel
from core.errors import InvalidInput
from core.licensing.licensees import get_licensee
from core.secret_box import SealError, seal, unseal
from core.settings import Settings

SLOTS = (1, 2)  # primary, secondary
log = logging.getLogger("kefu.models")


class ModelProvider(StrEnum):
    OPENAI = "openai"  # any OpenAI-compatible API: OpenAI, DeepSeek, Qwen, SiliconFlow, vLLM…
    OLLAMA = "ollama"


@dataclass(frozen=True)
class ModelLink:
    """One model of a chain, as plain values (the chat server turns it into a LangChain model)."""

    provider: ModelProvider
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    first_token_timeout: float = 10.0
    total_timeout: float = 60.0


def _check(provider: str, base_url: str, model: str, first: float, total: float) -> ModelProvider:
    try:
        kind = ModelProvider(provider.lower())
    except ValueError:
        raise InvalidInput(
            f"provider must be one of {[p.value for p in ModelProvider]}",
            code="model.provider",
            choices=", ".join(p.value for p in ModelProvider),
        ) from None
    try:
        url = urlsplit(base_url)
        host, _port = url.hostname, url.port  # .port raises on a port that is not a number
    except ValueError:  # "http://[::1" and the like
        raise InvalidInput(
            "base URL must be an http:// or https:// URL", code="model.base_url"
        ) from None
    if url.scheme not in ("http", "https") or not host:
        raise InvalidInput("base URL must be an http:// or https:// URL", code="model.base_url")
    if url.username or url.password:
        raise InvalidInput(
            "base URL must not carry credentials: give the API key instead",
            code="model.base_url_credentials",
        )
    if not model.strip() or len(model) > 100:
        raise InvalidInput("model name must be 1-100 characters", code="model.name_length")
    if not 0 < first <= total <= 600:
        raise InvalidInput(
            "timeouts must satisfy 0 < first token <= total <= 600 seconds", code="model.timeouts"
        )
    return kind


def platform_links(settings: Settings) -> list[ModelLink]:
    """The platform default chain from ``KEFU_MODEL_*`` (empty when no model is configured)."""
    links = []
    for provider, url, name, key in (
        (settings.model_provider, settings.model_base_url, settings.model_name,
         settings.model_api_key),
        (settings.model_fallback_provider, settings.model_fallback_base_url,
         settings.model_fallback_name, settings.model_fallback_api_key),
    ):  # fmt: skip
        if url and name:
            links.append(
                ModelLink(
                    provider=ModelProvider(provider),
                    base_url=url,
                    model=name,
                    api_key=key.get_secret_value() if key else None,
                    first_token_timeout=settings.model_first_token_timeout_seconds,
                    total_timeout=settings.model_timeout_seconds,
                )
            )
    return links


def licensee_links(session: Session, licensee_id: str, server_secret: str) -> list[ModelLink]:
    """The licensee's own links; a link whose key this server secret cannot open (the secret
    changed) is left out, loudly, rather than breaking every answer."""
    links = []
    for row in rows(session, licensee_id):
        try:
            key = unseal(server_secret, row.api_key_sealed) if row.api_key_sealed else None
        except SealError:
            log.error(
                "licensee %s model slot %s: its API key cannot be opened with this server "
                "secret; set it again with `kefu model set`",
                licensee_id,
                row.slot,
            )
            continue
        links.append(
            ModelLink(
                provider=ModelProvider(row.provider),
                base_url=row.base_url,
                model=row.model,
                api_key=key,
                first_token_timeout=row.first_token_timeout_ms / 1000,
                total_timeout=row.total_timeout_ms / 1000,
            )
        )
    return links


def chain_for(session: Session, settings: Settings, licensee_id: str) -> list[ModelLink]:
    """The licensee's own models when it has any, else the platform's."""
    return licensee_links(session, licensee_id, settings.secret()) or platform_links(settings)


def _row(session: Session, licensee_id: str, slot: int) -> LicenseeModel | None:
    return session.exec(
        select(LicenseeModel).where(
            LicenseeModel.licensee_id == licensee_id, LicenseeModel.slot == slot
        )
    ).first()


def rows(session: Session, licensee_id: str) -> list[LicenseeModel]:
    """The licensee's own chain, primary first."""
    return list(
        session.exec(
            select(LicenseeModel)
            .where(LicenseeModel.licensee_id == licensee_id)
            .order_by(col(LicenseeModel.slot))
        ).all()
    )


def set_link(
    session: Session,
    settings: Settings,
    licensee_id: str,
    *,
    slot: int,
    provider: str,
    base_url: str,
    model: str,
    api_key: str | None,
    first_token_timeout: float,
    total_timeout: float,
    now: datetime,
) -> LicenseeModel:
    if slot not in SLOTS:
        raise InvalidInput("slot must be 1 (primary) or 2 (secondary)", code="model.slot")
    kind = _check(provider, base_url, model, first_token_timeout, total_timeout)
    licensee = get_licensee(session, licensee_id)
    row = _row(session, licensee_id, slot)
    if row is None:
        row = LicenseeModel(
            licensee_id=licensee_id,
            slot=slot,
            provider=kind.value,
            base_url=base_url,
            model=model,
            created_at=now,
            updated_at=now,
        )
    row.provider = kind.value
    row.base_url = base_url.rstrip("/")
    row.model = model.strip()
    if api_key is not None:  # None keeps the stored key; "" removes it
        row.api_key_sealed = seal(settings.secret(), api_key) if api_key else None
    row.first_token_timeout_ms = round(first_token_timeout * 1000)
    row.total_timeout_ms = round(total_timeout * 1000)
    row.updated_at = now
    licensee.updated_at = now  # running servers rebuild this licensee's chain
    session.add(row)
    session.add(licensee)
    return row


def clear_link(session: Session, licensee_id: str, slot: int, now: datetime) -> bool:
    licensee = get_licensee(session, licensee_id)
    row = _row(session, licensee_id, slot)
    if row is None:
        return False
    session.delete(row)
    licensee.updated_at = now
    session.add(licensee)
    return True


def describe(row: LicenseeModel) -> dict[str, Any]:
    """What the CLI shows: everything but the key, of which only its presence."""
    return {
        "slot": row.slot,
        "provider": row.provider,
        "base_url": row.base_url,
        "model": row.model,
        "api_key": "set" if row.api_key_sealed else None,
        "first_token_timeout": row.first_token_timeout_ms / 1000,
        "timeout": row.total_timeout_ms / 1000,
    }
