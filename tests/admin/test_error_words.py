"""Errors from ``core`` in the reader's language: every refusal a console page or the JSON API
shows is worded from its stable code, in Chinese on a Chinese page and in English on an
English one; never the English text of an exception on a Chinese page."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from admin import forms
from admin.i18n import catalogue
from admin.i18n.errors import error_text
from core.accounts.passwords import check_new_password
from core.accounts.users import normalise_email, parse_role
from core.billing.money import parse_money
from core.errors import InvalidInput, KefuError, LicenceUnavailable, NotFound
from core.knowledge.files import check_row, read_kb_bytes
from core.ledger.money import check_currency
from core.licensing.appearance import check_color, check_position, check_text
from core.licensing.licensees import parse_price
from core.licensing.origins import normalise_pattern
from core.licensing.service_period import month_bounds, zone
from kefu.error_handler import install

ROOT = Path(__file__).resolve().parents[2]

# Latin words a Chinese sentence may carry: names of formats, standards and placeholders.
ALLOWED_LATIN = {
    "API", "JSON", "CSV", "UTF", "GB", "Excel", "xlsx", "csv", "json", "xls", "ISO", "YYYY",
    "MM", "DD", "HH", "DDTHH", "NNNNNN", "http", "https", "NUL", "MB", "chinese", "calendar", "question",
    "answer", "similar", "tags", "answer_en", "rgb", "rrggbb", "scheme", "host", "port",
}  # fmt: skip
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
CJK = re.compile(r"[\u4e00-\u9fff]")

# Where core refuses something on purpose with no code of its own, and why that is fine: these
# never reach a console page or the console's API (start-up, the command line, the widget).
UNCODED = {
    "core/settings.py": "settings: the server refuses to start",
    "core/moderation/word_list.py": "settings: the server refuses to start",
    "core/moderation/matcher.py": "settings: the server refuses to start",
    "core/reporting/daily.py": "kefu figures rebuild, a command",
    "core/ledger/tokens.py": "kefu tokens, a command",
    "core/chat/left_messages.py": "the widget's leave-a-message form",
    "core/chat/handoff_rules.py": "hand-off rules, worded by their own page",
    "core/chat/conversations.py": "the widget's protocol",
    "core/licensing/licensees.py:AuthError": "a widget's key: worded by its class",
    "core/licensing/licensees.py:OriginRefused": "a widget's origin: worded by its class",
}


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    child: type
    for child in cls.__subclasses__():
        found |= _subclasses(child)
    return found


_KEFU_ERRORS = {cls.__name__ for cls in _subclasses(KefuError)}


def _raises(path: Path) -> list[tuple[str, ast.Call]]:
    """Every ``raise SomeError(...)`` of a file: the class's name and the call."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            if isinstance(func, ast.Name) and func.id in _KEFU_ERRORS:
                found.append((func.id, node.exc))
    return found


def test_every_refusal_core_raises_for_the_console_carries_a_code() -> None:
    missing = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name in UNCODED or name == "core/errors.py":
            continue
        for cls, call in _raises(path):
            if cls in ("RateLimited", "LicenceUnavailable"):
                continue  # their classes give the code
            if f"{name}:{cls}" in UNCODED:
                continue
            if not any(k.arg == "code" for k in call.keywords):
                missing.append(f"{name}:{call.lineno} raise {cls}(…) has no code=")
    assert missing == []


def _codes_used() -> set[str]:
    """Every error code written in core and the console (``code="…"``, and the knowledge-base
    row problems ``_problem(text, "…")``)."""
    codes = set()
    for top in ("core", "admin"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        codes.add(str(keyword.value.value))
                func = node.func
                if isinstance(func, ast.Name) and func.id == "_problem" and len(node.args) > 1:
                    arg = node.args[1]
                    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    codes.add("kb.row." + arg.value)
    return codes


def test_every_code_has_words_in_both_languages() -> None:
    words = catalogue()
    used = _codes_used()
    assert len(used) > 100
    assert sorted(c for c in used if f"error.{c}" not in words) == []
    for key, (zh, en) in words.items():
        if key.startswith("error."):
            assert CJK.search(zh), key
            # English words, but for the Chinese column names a knowledge-base file may use
            assert not CJK.search(en) or key == "error.kb.file.header_missing", key


def _sample(template: str) -> dict[str, object]:
    """Values for each placeholder of ``template`` that hold no Latin letter."""
    values: dict[str, object] = {}
    for _text, name, spec, _conv in string.Formatter().parse(template):
        if name:
            values[name] = 7 if spec else "①"
    return values


def _all_coded() -> list[KefuError]:
    """One error for every code that has words, with placeholder values."""
    made: list[KefuError] = []
    for key, (zh, _en) in sorted(catalogue().items()):
        if key.startswith("error.") and key != "error.kb.row.several":
            made.append(InvalidInput("english text", code=key[6:], **_sample(zh)))
    return made


# Errors as core's own functions raise them, for what an operator types.
REAL: list[tuple[str, Callable[[], object]]] = [
    ("money decimals", lambda: forms.money("1.234", "base fee")),
    ("money not a number", lambda: parse_money("十二", "base fee")),
    ("money zero", lambda: parse_money("0", positive=False)),
    ("unit price", lambda: parse_price("-1")),
    ("price missing", lambda: forms.price("")),
    ("origin", lambda: normalise_pattern("ftp://例子.中国")),
    ("wildcard", lambda: normalise_pattern("https://*")),
    ("password short", lambda: check_new_password("短")),
    ("password spaces", lambda: check_new_password(" 一二三四五六七八九十 ")),
    ("email", lambda: normalise_email("无效")),
    ("role", lambda: parse_role("老板")),
    ("kb row", lambda: check_row("", "")),
    ("kb row long", lambda: check_row("问" * 501, "答")),
    ("kb json", lambda: read_kb_bytes(b"[{", "json")),
    ("kb json rows", lambda: _first_rejection(b'[{"question": 1, "answer": "A"}]', "json")),
    ("kb csv", lambda: read_kb_bytes(b"question,answer\n", "csv")),
    ("kb csv header", lambda: read_kb_bytes("问题\n一\n".encode(), "csv")),
    ("kb type", lambda: read_kb_bytes(b"x", "doc")),
    ("zone", lambda: zone("火星/奥林帕斯")),
    ("month", lambda: month_bounds("二〇二六年", "Asia/Shanghai")),
    ("colour", lambda: check_color("红")),
    ("position", lambda: check_position("中")),
    ("title", lambda: check_text("长" * 101, "title", 100)),
    ("currency", lambda: check_currency("元")),
    ("form date", lambda: forms.required_day("明天", "notice date")),
    ("form time", lambda: forms.local_moment("明天", "Asia/Shanghai", "start")),
    ("form minutes", lambda: forms.minutes("五", "idle timeout")),
    ("licence", lambda: _raise(LicenceUnavailable("suspended", "this service is suspended"))),
    ("not found", lambda: _raise(NotFound("no such thing"))),
]


def _raise(exc: KefuError) -> None:
    raise exc


def _first_rejection(data: bytes, fmt: str) -> None:
    from core.knowledge.files import several

    raise several(read_kb_bytes(data, fmt).rejected[0].problems)


def _caught(make: Callable[[], object]) -> KefuError:
    with pytest.raises(KefuError) as caught:
        make()
    return caught.value


def _english_left(text: str, exc: KefuError) -> list[str]:
    """The Latin words of ``text`` that are not a value the error carries nor allowed."""
    for value in exc.values.values():
        for part in value if isinstance(value, tuple) else (value,):
            if isinstance(part, KefuError):
                continue
            text = text.replace(str(part), " ")
    return [w for w in LATIN_WORD.findall(text) if w not in ALLOWED_LATIN]


@pytest.fixture(scope="module")
def shown() -> TestClient:
    """A console page and an API route that raise the table's errors through the real error
    handling: the console's error page and its JSON refusal."""
    table = [_caught(make) for _name, make in REAL] + _all_coded()
    app = FastAPI()
    install(app)

    @app.get("/admin/refuse/{index}")
    def page(index: int) -> None:
        raise table[index]

    @app.get("/admin/api/refuse/{index}")
    def api(index: int) -> None:
        raise table[index]

    client = TestClient(app)
    client.table = table  # type: ignore[attr-defined]
    return client


def test_each_error_shows_in_chinese_on_a_chinese_page_and_in_english_on_an_english_one(
    shown: TestClient,
) -> None:
    table: list[KefuError] = shown.table  # type: ignore[attr-defined]
    assert len(table) > 150
    leaks = []
    for index, exc in enumerate(table):
        zh = error_text(exc, "zh")
        en = error_text(exc, "en")
        assert CJK.search(zh), (exc.code, zh)
        assert zh != en, exc.code
        if left := _english_left(zh, exc):
            leaks.append((exc.code, zh, left))
        page_zh = shown.get(f"/admin/refuse/{index}", headers={"Accept-Language": "zh-CN"})
        page_en = shown.get(f"/admin/refuse/{index}?lang=en")
        shown.cookies.clear()  # ?lang= is remembered: each request here says its own
        if exc.status < 500:
            assert page_zh.status_code == exc.status
            assert page_zh.headers["content-type"].startswith("text/html")
            assert _escaped(zh) in page_zh.text, exc.code
            assert _escaped(en) in page_en.text, exc.code
            assert _escaped(str(exc)) not in page_zh.text or str(exc) == zh, exc.code
        api_zh = shown.get(f"/admin/api/refuse/{index}", headers={"Accept-Language": "zh"})
        api_en = shown.get(f"/admin/api/refuse/{index}", headers={"Accept-Language": "en"})
        if exc.status < 500:
            assert api_zh.json() == {"detail": zh, "code": exc.code}
            assert api_en.json() == {"detail": en, "code": exc.code}
    assert leaks == []


def _escaped(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def test_a_field_named_by_an_error_is_worded_too() -> None:
    exc = _caught(lambda: forms.money("1.234", "base fee"))
    assert error_text(exc, "zh") == "基础费最多 2 位小数（到分）：1.234"
    assert error_text(exc, "en") == "Base fee has at most 2 decimals (whole fen): 1.234"
    assert exc.values["value"] == "1.234" and Decimal("1.234")  # the value stays as typed


def test_an_error_without_a_code_is_worded_by_its_class_never_by_its_text() -> None:
    bare = NotFound("no such widget frame")
    assert error_text(bare, "zh") == "找不到所请求的对象。"
    assert "widget" not in error_text(bare, "en")


def test_a_row_with_several_problems_lists_each_in_the_readers_words() -> None:
    exc = _caught(lambda: check_row("", ""))
    assert str(exc) == "missing question; missing answer"  # the command line's words
    assert error_text(exc, "zh") == "缺少标准问题；缺少答案"
    assert error_text(exc, "en") == "Missing question; missing answer"
