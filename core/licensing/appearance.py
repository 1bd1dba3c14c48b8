"""A licensee's widget look (title, greeting, colour, position) and the config a welcome carries."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlmodel import Session

from core.chat import branding
from core.chat.frames import WidgetConfig
from core.db.tables import Licensee, WidgetPosition
from core.errors import InvalidInput
from core.licensing.licensees import get_licensee

MAX_TITLE_CHARS = 100
MAX_GREETING_CHARS = 500
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


def check_text(value: str, name: str, limit: int) -> str:
    """Trimmed ``value``: at most ``limit`` characters and no control characters."""
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(
            f"the {name} is at most {limit} characters, got {len(value)}",
            code="look.too_long",
            field=name,
            limit=limit,
        )
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise InvalidInput(
            f"the {name} must not contain control characters",
            code="look.control_characters",
            field=name,
        )
    return value


def check_color(value: str) -> str:
    """A ``#rgb`` or ``#rrggbb`` hex colour, in lower case; nothing else reaches the page's CSS."""
    if not _HEX_COLOR.fullmatch(value):
        raise InvalidInput(
            f"a colour is #rgb or #rrggbb in hex, got {value!r}", code="look.colour", value=value
        )
    return value.lower()


def check_position(value: str) -> WidgetPosition:
    try:
        return WidgetPosition(value)
    except ValueError:
        raise InvalidInput(
            f"the position is left or right, got {value!r}", code="look.position", value=value
        ) from None


def configure(
    session: Session,
    licensee_id: str,
    now: datetime,
    *,
    title: str | None = None,
    greeting: str | None = None,
    color: str | None = None,
    position: str | None = None,
) -> Licensee:
    """Validate every given value, then change them all (None leaves a value as it is).

    An empty title or greeting falls back to the licensee's name or the default greeting.
    """
    licensee = get_licensee(session, licensee_id)
    changes: dict[str, str] = {}
    if title is not None:
        changes["title"] = check_text(title, "title", MAX_TITLE_CHARS)
    if greeting is not None:
        changes["greeting"] = check_text(greeting, "greeting", MAX_GREETING_CHARS)
    if color is not None:
        changes["theme_color"] = check_color(color)
    if position is not None:
        changes["widget_position"] = check_position(position).value
    if changes:
        for name, value in changes.items():
            setattr(licensee, name, value)
        licensee.updated_at = now  # running servers pick the change up (the licence watcher)
        session.add(licensee)
    return licensee


def widget_config(licensee: Licensee, lang: str, product_name: str) -> WidgetConfig:
    """What ``welcome.config`` tells the widget, in ``lang`` (``zh`` or ``en``)."""
    return WidgetConfig(
        title=licensee.title or licensee.name,
        greeting=licensee.greeting or branding.DEFAULT_GREETING[lang],
        attribution=branding.attribution(product_name, lang),
        ai_label=branding.AI_LABEL[lang],
        disclaimer=branding.DISCLAIMER[lang],
        locale="zh-CN" if lang == "zh" else "en",
        theme={"color": licensee.theme_color, "position": licensee.widget_position},
    )
