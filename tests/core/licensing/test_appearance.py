"""A licensee's widget look: validation, saving, and the config a welcome carries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from core.db.engine import Database
from core.db.tables import Licensee
from core.errors import InvalidInput, NotFound
from core.licensing.appearance import check_color, configure, widget_config

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "saved"), [("#abc", "#abc"), ("#A1B2C3", "#a1b2c3")])
def test_colours_are_short_or_long_hex(value: str, saved: str) -> None:
    assert check_color(value) == saved


@pytest.mark.parametrize(
    "value",
    ["red", "abc", "#abcd", "#abcdeff", "#ggg", "#12345", " #abc", "#abc;}", "", "#abc\n"],
)
def test_anything_else_is_not_a_colour(value: str) -> None:
    with pytest.raises(InvalidInput):
        check_color(value)


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "x" * 101},
        {"greeting": "x" * 501},
        {"title": "a\x07b"},
        {"greeting": "line\nbreak"},
        {"greeting": "\x1b[31mred"},
        {"color": "blue"},
        {"position": "top"},
        {"position": "Left"},
    ],
)
def test_configure_refuses_bad_values_and_changes_nothing(
    db: Database, make_tenant: Callable[..., Any], changes: dict[str, str]
) -> None:
    t = make_tenant()
    with db.session() as session, pytest.raises(InvalidInput):
        configure(session, t.licensee.id, AT, **{"color": "#000", **changes})
    with db.read_session() as session:
        saved = session.get(Licensee, t.licensee.id)
    assert saved is not None
    assert (saved.title, saved.greeting, saved.theme_color, saved.widget_position) == (
        "Shop",
        "",
        "#2563eb",
        "right",
    )


def test_configure_saves_the_look_and_the_welcome_config_shows_it(
    db: Database, make_tenant: Callable[..., Any]
) -> None:
    t = make_tenant()
    with db.session() as session:
        configure(
            session,
            t.licensee.id,
            AT,
            title=" " + "标" * 100 + " ",
            greeting="g" * 500,
            color="#0A7",
            position="left",
        )
        session.commit()
    with db.read_session() as session:
        saved = session.get(Licensee, t.licensee.id)
    assert saved is not None
    assert saved.title == "标" * 100
    assert saved.updated_at == AT  # running servers notice the change
    config = widget_config(saved, "en", "Kefu")
    assert (config.title, config.greeting) == ("标" * 100, "g" * 500)
    assert config.theme == {"color": "#0a7", "position": "left"}

    # Only what is given changes; an empty title or greeting falls back to the defaults.
    with db.session() as session:
        configure(session, t.licensee.id, AT, title="", greeting="")
        session.commit()
    with db.read_session() as session:
        again = session.get(Licensee, t.licensee.id)
    assert again is not None
    config = widget_config(again, "zh", "Kefu")
    assert config.title == "Shop"
    assert config.greeting.startswith("您好")
    assert config.theme == {"color": "#0a7", "position": "left"}


def test_configure_an_unknown_licensee(db: Database) -> None:
    with db.session() as session, pytest.raises(NotFound):
        configure(session, "lic_nope", AT, title="x")
