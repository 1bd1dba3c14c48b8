"""The widget's scripts agree with the server on protocol v1, never parse markup, define one global,
survive minification, stay within their size budgets, and are embedded with one tag."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

import widget
from core.chat import frames
from widget import assets

LOADER_JS = widget.STATIC_DIR / "loader.js"
UI_JS = widget.STATIC_DIR / "ui.js"
SCRIPTS = [LOADER_JS, UI_JS]

# The size budgets of the issue, gzipped: the loader every host page fetches, and the whole widget.
LOADER_BUDGET = 3_000
WIDGET_BUDGET = 20_000


@pytest.fixture(scope="module")
def source() -> str:
    """The chat UI, which speaks the protocol."""
    return UI_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=SCRIPTS, ids=lambda p: p.name)
def script(request: pytest.FixtureRequest) -> str:
    path: Path = request.param
    return path.read_text(encoding="utf-8")


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
def test_no_markup_parsing_or_code_from_strings(script: str, pattern: str) -> None:
    hits = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(_code_only(script).splitlines(), 1)
        if re.search(pattern, line)
    ]
    assert not hits, f"the widget uses {pattern!r}: {hits}"


def test_the_markup_scan_catches_an_assignment() -> None:
    sample = "node.innerHTML = frame.text;"
    assert re.search(r"innerHTML", _code_only(sample))


def test_only_global_is_window_kefu() -> None:
    for path, expected in [(LOADER_JS, {"Kefu"}), (UI_JS, set())]:
        code = _code_only(path.read_text(encoding="utf-8"))
        assigned = set(re.findall(r"\bwindow\.([A-Za-z_$][\w$]*)\s*=(?!=)", code))
        assert assigned == expected, path.name
        assert re.search(r"^\(function \(\) \{\n\s+\"use strict\";", code.lstrip(), re.MULTILINE)
        assert code.rstrip().endswith("})();")
        # No top-level declarations outside the wrapper.
        assert not re.search(r"^(var|let|const|function) ", code, re.MULTILINE), path.name


def test_plain_es2019_syntax(script: str) -> None:
    code = _code_only(script)
    # Optional chaining and nullish coalescing are ES2020; modules need a build or type=module.
    assert not re.search(r"\?\.[A-Za-z_$(\[]", code)
    assert "??" not in code
    assert not re.search(r"^\s*(import|export)\s", code, re.MULTILINE)


def test_node_accepts_the_sources_and_the_minified_files(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    built = assets.build()
    minified = [tmp_path / "loader.min.js", tmp_path / "ui.min.js"]
    minified[0].write_bytes(built.loader.body)
    minified[1].write_bytes(built.ui.body)
    for path in [*SCRIPTS, *minified]:
        result = subprocess.run(
            [node, "--check", str(path)], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, (path.name, result.stderr)


def test_the_served_loader_names_the_versioned_ui() -> None:
    built = assets.build()
    assert re.fullmatch(r"/widget/ui\.[0-9a-f]{12}\.js", built.ui_path)
    loader = built.loader.body.decode()
    assert f'var UI_PATH="{built.ui_path}"' in loader
    assert assets.UI_PLACEHOLDER not in loader
    # The digest follows the content.
    assert built.ui_digest == hashlib.sha256(built.ui.body).hexdigest()[:12]


def test_a_loader_without_its_placeholder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ui.js").write_text("(function () {})();\n", encoding="utf-8")
    (tmp_path / "loader.js").write_text('var UI_PATH = "/elsewhere.js";\n', encoding="utf-8")
    with pytest.raises(RuntimeError, match="exactly once"):
        assets.build(tmp_path)


def test_size_budgets() -> None:
    built = assets.build()
    loader, ui = len(built.loader.gzipped), len(built.ui.gzipped)
    assert loader <= LOADER_BUDGET, f"loader is {loader} bytes gzipped"
    assert loader + ui <= WIDGET_BUDGET, f"loader + chat UI are {loader + ui} bytes gzipped"
    # gzip really is what is measured: the body decompresses to the minified script.
    assert gzip.decompress(built.ui.gzipped) == built.ui.body


def test_widget_package_paths() -> None:
    assert LOADER_JS.is_file() and UI_JS.is_file()
    assert (widget.TEMPLATES_DIR / "demo.html").is_file()


def test_demo_page_embeds_the_widget_with_one_tag() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(widget.TEMPLATES_DIR), autoescape=True)
    html = env.get_template("demo.html").render(site_key='pk_live_"x"<y>', title="Kefu Demo Shop")
    assert re.search(r"<html lang=\"zh-CN\">", html)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="/widget.js" data-key="pk_live_&#34;x&#34;&lt;y&gt;" async>']
    assert "<title>Kefu Demo Shop</title>" in html
