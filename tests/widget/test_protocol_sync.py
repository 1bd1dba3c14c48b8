"""The widget's scripts agree with the server on protocol v1, never parse markup, define one global,
survive minification, stay within their size budgets, and are embedded with one tag."""

from __future__ import annotations

import enum
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
UI_DIR = widget.STATIC_DIR / "ui"
UI_MODULES = [UI_DIR / name for name in assets.UI_MODULES]
PROTOCOL_JS = UI_DIR / "protocol.js"
STRINGS_JS = UI_DIR / "strings.js"
SCRIPTS = [LOADER_JS, *UI_MODULES]

# The size budgets of the issue, gzipped: the loader every host page fetches, and the whole widget.
LOADER_BUDGET = 3_000
WIDGET_BUDGET = 20_000

# Each list constant of the widget's protocol module, and the server's values it must equal.
PROTOCOL_LISTS: dict[str, frozenset[str]] = {
    "FRAME_TYPES": frames.CLIENT_FRAME_TYPES | frames.SERVER_FRAME_TYPES,
    "ERROR_CODES": frozenset(frames.ErrorCode),
    "END_REASONS": frozenset(frames.EndReason),
    "NOTICE_KINDS": frozenset(frames.NoticeKind),
    "ROLES": frozenset(frames.Role),
    "HANDOFF_STATUSES": frozenset(frames.HandoffStatus),
}
PROTOCOL_NUMBERS = {
    "CLOSE_SUSPENDED": frames.CloseCode.SUSPENDED,
    "CLOSE_MAINTENANCE": frames.CloseCode.MAINTENANCE,
    "MAX_TEXT_CHARS": frames.MAX_TEXT_CHARS,
}


@pytest.fixture(scope="module")
def source() -> str:
    """The widget's protocol module, which holds every wire constant."""
    return PROTOCOL_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=SCRIPTS, ids=lambda p: p.name)
def script(request: pytest.FixtureRequest) -> str:
    path: Path = request.param
    return path.read_text(encoding="utf-8")


def _js_list(source: str, name: str) -> list[str]:
    """The string list a one-line `var NAME = [...];` declaration holds."""
    match = re.search(rf"^\s*var {name} = (\[[^\n\]]*\]);\s*$", source, re.MULTILINE)
    assert match, f"the widget declares no one-line `var {name} = [...];`"
    values: list[str] = json.loads(match.group(1))
    assert all(isinstance(v, str) for v in values)
    assert len(values) == len(set(values)), f"{name} repeats a value"
    return values


def _js_constants(source: str) -> set[str]:
    """The names of every upper-case `var NAME = ...;` the source declares."""
    return set(re.findall(r"^\s*var ([A-Z][A-Z0-9_]*) = ", source, re.MULTILINE))


def _code_only(source: str) -> str:
    """The script without comments (string contents are kept: they are scanned too)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"(?m)^\s*//.*$", "", source)


@pytest.mark.parametrize("name", sorted(PROTOCOL_LISTS))
def test_protocol_lists_match_the_server(source: str, name: str) -> None:
    assert set(_js_list(source, name)) == PROTOCOL_LISTS[name]


@pytest.mark.parametrize("name", sorted(PROTOCOL_NUMBERS))
def test_protocol_numbers_match_the_server(source: str, name: str) -> None:
    match = re.search(rf"^\s*var {name} = (\d+);$", source, re.MULTILINE)
    assert match, f"protocol.js declares no `var {name} = <number>;`"
    assert int(match.group(1)) == PROTOCOL_NUMBERS[name]


def test_every_constant_on_either_side_is_compared(source: str) -> None:
    # A constant added to the widget's protocol module without a server counterpart, or an enum
    # added to the server's frames without one in the widget, fails here until it is paired.
    assert _js_constants(source) == set(PROTOCOL_LISTS) | set(PROTOCOL_NUMBERS)
    server_enums = {
        value
        for value in vars(frames).values()
        if isinstance(value, type)
        and issubclass(value, enum.Enum)
        and value.__module__ == frames.__name__
    }
    compared = {frozenset(e) for e in server_enums}
    assert compared <= set(PROTOCOL_LISTS.values()), sorted(e.__name__ for e in server_enums)
    close_codes = {
        name: code
        for name, code in vars(frames.CloseCode).items()
        if name.isupper() and code >= 4000
    }
    assert {f"CLOSE_{name}" for name in close_codes} <= set(PROTOCOL_NUMBERS)


def test_every_end_reason_has_a_text_in_both_languages() -> None:
    strings = STRINGS_JS.read_text(encoding="utf-8")
    blocks = re.findall(r"endReason: \{(.*?)\}", strings, flags=re.DOTALL)
    assert len(blocks) == 2, "one endReason block per language"
    for block in blocks:
        assert set(re.findall(r"^\s*(\w+):", block, re.MULTILINE)) == set(frames.EndReason)


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


def _assigned_globals(code: str) -> set[str]:
    return set(re.findall(r"\bwindow\.([A-Za-z_$][\w$]*)\s*=(?!=)", code))


def _wrapped_in_one_function(code: str) -> bool:
    # The whole script is one strict function expression: no top-level declarations outside it.
    return bool(
        re.search(r"^\(function \(\) \{\n\s+\"use strict\";", code.lstrip(), re.MULTILINE)
        and code.rstrip().endswith("})();")
        and not re.search(r"^(var|let|const|function) ", code, re.MULTILINE)
    )


def test_only_global_is_window_kefu() -> None:
    loader = _code_only(LOADER_JS.read_text(encoding="utf-8"))
    assert _assigned_globals(loader) == {"Kefu"}
    assert _wrapped_in_one_function(loader)
    ui = _code_only(assets.ui_source())
    assert _assigned_globals(ui) == set()
    assert _wrapped_in_one_function(ui)


def test_each_ui_module_declares_one_name_after_its_file() -> None:
    # Modules share one function scope once joined: each adds one name, so they cannot clash.
    assert sorted(p.name for p in UI_DIR.glob("*.js")) == sorted(assets.UI_MODULES)
    for path in UI_MODULES:
        code = _code_only(path.read_text(encoding="utf-8"))
        declared = re.findall(r"^(?:var|let|const|function) ([A-Za-z_$][\w$]*)", code, re.MULTILINE)
        assert declared == [path.stem], (path.name, declared)


def test_the_module_checks_see_a_stray_declaration() -> None:
    assert not _wrapped_in_one_function('var leak = 1;\n(function () {\n  "use strict";\n})();')
    assert _assigned_globals("window.leak = 1; window.Kefu === x;") == {"leak"}


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
    assembled = [tmp_path / "ui.js", tmp_path / "loader.min.js", tmp_path / "ui.min.js"]
    assembled[0].write_text(assets.ui_source(), encoding="utf-8")
    assembled[1].write_bytes(built.loader.body)
    assembled[2].write_bytes(built.ui.body)
    for path in [*SCRIPTS, *assembled]:
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
    (tmp_path / "ui").mkdir()
    for name in assets.UI_MODULES:
        (tmp_path / "ui" / name).write_text("var x = 1;\n", encoding="utf-8")
    (tmp_path / "loader.js").write_text('var UI_PATH = "/elsewhere.js";\n', encoding="utf-8")
    with pytest.raises(RuntimeError, match="exactly once"):
        assets.build(tmp_path)
    # Nor one without the place for a licensee's look.
    (tmp_path / "loader.js").write_text('var UI_PATH = "/widget/ui.js";\n', encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"LOOK=\{\}"):
        assets.build(tmp_path)


def test_a_look_is_written_into_the_loader_once() -> None:
    built = assets.build()
    keyed = built.loader_for(assets.Look(color="#0a7d32", position="left")).body.decode()
    assert keyed.count('var LOOK={"color":"#0a7d32","position":"left"};') == 1
    assert assets.LOOK_PLACEHOLDER not in keyed
    assert gzip.decompress(built.loader_for(assets.Look("#abc", "right")).gzipped).endswith(
        b"})();"
    )


def test_size_budgets() -> None:
    built = assets.build()
    # The largest loader served: one carrying the longest look (#rrggbb, "right").
    keyed = built.loader_for(assets.Look(color="#e4572e", position="right"))
    loader, ui = len(keyed.gzipped), len(built.ui.gzipped)
    assert len(built.loader.gzipped) <= loader
    assert loader <= LOADER_BUDGET, f"loader is {loader} bytes gzipped"
    assert loader + ui <= WIDGET_BUDGET, f"loader + chat UI are {loader + ui} bytes gzipped"
    # gzip really is what is measured: the body decompresses to the minified script.
    assert gzip.decompress(built.ui.gzipped) == built.ui.body


def test_widget_package_paths() -> None:
    assert LOADER_JS.is_file() and all(path.is_file() for path in UI_MODULES)
    assert (widget.TEMPLATES_DIR / "demo.html").is_file()


def test_demo_page_embeds_the_widget_with_one_tag() -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(widget.TEMPLATES_DIR), autoescape=True)
    html = env.get_template("demo.html").render(site_key='pk_live_"x"<y>', title="Kefu Demo Shop")
    assert re.search(r"<html lang=\"zh-CN\">", html)
    scripts = re.findall(r"<script\b[^>]*>", html)
    # The key in the URL: the server writes the licensee's look into the loader it serves.
    assert scripts == ['<script src="/widget.js?key=pk_live_%22x%22%3Cy%3E" async>']
    assert "<title>Kefu Demo Shop</title>" in html
