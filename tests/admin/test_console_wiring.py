"""The console is part of the product's app, its API in the OpenAPI document, and every word
its templates use exists in both languages."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from admin import TEMPLATES_DIR
from admin.i18n import catalogue, parse_accept_language, pick_language
from core.db.engine import Database
from kefu.app import create_app
from testkit.servers import settings_for

KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")


def test_the_product_app_serves_the_console(db: Database, db_url: str) -> None:
    app = create_app(settings_for(db_url), db=db)
    with TestClient(app, follow_redirects=False) as client:  # with its lifespan, as served
        assert client.get("/admin/login").status_code == 200
        assert client.get("/admin").headers["location"] == "/admin/login?next=/admin"
        assert client.get("/admin/static/admin.css").status_code == 200
        assert client.get("/admin/static/../app.py").status_code == 404
    schema = app.openapi()
    assert "/admin/api/me" in schema["paths"]
    assert "/admin/login" not in schema["paths"]  # pages are not API


def test_every_template_word_exists_in_both_languages() -> None:
    words = catalogue()
    used = {
        key
        for path in TEMPLATES_DIR.glob("*.html")
        for key in KEY.findall(path.read_text(encoding="utf-8"))
    }
    assert used, "the scanner found no t() calls"
    assert sorted(used - words.keys()) == []
    empty = [key for key, (zh, en) in words.items() if not zh.strip() or not en.strip()]
    assert empty == []


def test_the_language_is_the_query_then_the_cookie_then_the_browser_then_chinese() -> None:
    assert pick_language("en", "zh", "zh-CN") == "en"
    assert pick_language(None, "en", "zh-CN") == "en"
    assert pick_language("fr", None, "en-US,en;q=0.8") == "en"
    assert pick_language(None, None, "fr-FR, en;q=0.5, zh;q=0.9") == "zh"
    assert pick_language(None, None, "") == "zh"
    assert parse_accept_language("en;q=0, de") is None
