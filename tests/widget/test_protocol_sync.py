"""The widget script agrees with the server on protocol v1, never parses markup, and is embedded once."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import jinja2
import pytest

import widget
from core import frames

WIDGET_JS = widget.STATIC_DIR / "widget.js"


@pytest.fixture(scope="module")
def source() -> str:
    return WIDGET_JS.read_text(encoding="utf-8")


def _js_list(source: str, name: str) -> list[str]:
    """The string list a one-line `var NAME = [...];` declaration holds."""
    match = re.search(rf"^\s*var {name} = (\[[^\n\]]*\]);\s*$", source, re.MULTILINE)
    assert match, f"widget.js declares no one-line `var {name} = [...];`"
    values: list[str] = json.loads(match.group(1))
    assert all(isinstance(v, str) for v in values)
    assert len(values) == len(set(values)), f"{name} repeats a value"
    return values


def _code_only(source: str) -> str:
    """The script without comments (string contents are kept: they are scanned too)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"(?m)^\s*//.*$", "", source)


def test_frame_types_match_the_server(source: str) -> None:
    expected = frames.CLIENT_FRAME_TYPES | frames.SERVER_FRAME_TYPES
    assert set(_js_list(source, "FRAME_TYPES")) == expected


def test_error_codes_match_the_server(source: str) -> None:
    assert set(_js_list(source, "ERROR_CODES")) == {c.value for c in frames.ErrorCode}


def test_the_extractor_sees_a_missing_type() -> None:
    broken = 'var FRAME_TYPES = ["hello", "message"];\n'
    assert set(_js_list(broken, "FRAME_TYPES")) != (
        frames.CLIENT_FRAME_TYPES | frames.SERVER_FRAME_TYPES
    )


@pytest.mark.parametrize(
    "pattern",
    [
        r"innerHTML",
        r"outerHTML",
        r"insertAdjacentHTML",
        r"document\.write",
        r"\beval\s*\(",
        r"\bnew\s+Function\b",
        r"createContextualFragment",
        r"DOMParser",
        r"srcdoc",
        r"setTimeout\(\s*[\"'`]",
        r"setInterval\(\s*[\"'`]",
    ],
)
def test_no_markup_parsing_or_code_from_strings(source: str, pattern: str) -> None:
    hits = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(_code_only(source).splitlines(), 1)
        if re.search(pattern, line)
    ]
    assert not hits, f"widget.js uses {pattern!r}: {hits}"


def test_the_markup_scan_catches_an_assignment() -> None:
    sample = "node.innerHTML = frame.text;"
    assert re.search(r"innerHTML", _code_only(sample))


def test_only_global_is_window_kefu(source: str) -> None:
    code = _code_only(source)
    assigned = set(re.findall(r"\bwindow\.([A-Za-z_$][\w$]*)\s*=(?!=)", code))
    assert assigned == {"Kefu"}
    assert re.search(r"^\(function \(\) \{\n\s+\"use strict\";", code.lstrip(), re.MULTILINE)
    assert code.rstrip().endswith("})();")


def test_plain_es2019_syntax(source: str) -> None:
    code = _code_only(source)
    # Optional chaining and nullish coalescing are ES2020; modules need a build or type=module.
    assert not re.search(r"\?\.[A-Za-z_$(\[]", code)
    assert "??" not in code
    assert not re.search(r"^\s*(import|export)\s", code, re.MULTILINE)


def test_node_accepts_the_script() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--check", str(WIDGET_JS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_widget_package_paths() -> None:
    assert (widget.STATIC_DIR / "widget.js").is_file()
    assert (widget.TEMPLATES_DIR / "demo.html").is_file()


def test_demo_page_embeds_the_widget_with_one_tag() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(widget.TEMPLATES_DIR), autoescape=True)
    html = env.get_template("demo.html").render(site_key='pk_live_"x"<y>', title="Kefu Demo Shop")
    assert re.search(r"<html lang=\"zh-CN\">", html)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="/widget.js" data-key="pk_live_&#34;x&#34;&lt;y&gt;" async>']
    assert "<title>Kefu Demo Shop</title>" in html
