"""The dependency arrows of ARCHITECTURE: core is pure, bot and admin meet only through kefu;
tests and benches share helpers only through testkit, which the product never imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_PRODUCT = {"testkit", "tests", "bench"}
WEB_AND_TEMPLATES = {"fastapi", "starlette", "uvicorn", "jinja2", "langchain", "langchain_core"}


def imports_of(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Every top-level module each file of ``package`` imports (including lazy imports)."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(root))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("core", WEB_AND_TEMPLATES | {"bot", "admin", "widget", "kefu"} | NOT_PRODUCT),
        ("bot", {"admin", "kefu", "jinja2"} | NOT_PRODUCT),
        ("admin", {"bot", "kefu", "langchain", "langchain_core"} | NOT_PRODUCT),
        ("widget", {"bot", "admin", "kefu", "langchain", "langchain_core"} | NOT_PRODUCT),
        ("kefu", NOT_PRODUCT),
        # A test module never imports another (nor conftest.py: pytest finds the fixtures), and
        # a bench never imports a test: what they share is in testkit.
        ("tests", {"tests", "bench"}),
        ("bench", {"tests"}),
        ("testkit", {"tests", "bench"}),
    ],
)
def test_dependencies_point_one_way(package: str, forbidden: set[str]) -> None:
    wrong = {
        f: sorted(names & forbidden)
        for f, names in imports_of(package).items()
        if names & forbidden
    }
    assert not wrong, f"{package} must not import {sorted(forbidden)}: {wrong}"


DOMAINS = {
    "db",
    "chat",
    "licensing",
    "knowledge",
    "moderation",
    "ledger",
    "billing",
    "reporting",
    "accounts",
}


def test_tests_and_benches_import_nothing_relative() -> None:
    # ``from . import x`` or ``from .test_y import z`` would import a test module by the back door.
    found = []
    for package in ("tests", "bench", "testkit"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0
            ]
    assert not found, found


def test_core_is_one_folder_per_domain() -> None:
    # The shared kernel stays small; every rule of the service lives in its domain's folder.
    kernel = {p.stem for p in (ROOT / "core").glob("*.py")}
    assert kernel <= {"__init__", "errors", "settings", "ids", "types", "ratelimit"} | {
        "secret_box",
        "spreadsheet",
        "bus",
        "audit",  # every domain's changes by a person are recorded through it
    }, sorted(kernel)
    folders = {p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists()}
    assert folders == DOMAINS


def test_langchain_only_under_bot_llm() -> None:
    for package in ("core", "bot", "admin", "kefu", "widget"):
        for path, names in imports_of(package).items():
            if names & {"langchain", "langchain_core", "langchain_openai", "langchain_ollama"}:
                assert path.startswith("bot/llm/"), path


def test_the_scanner_sees_lazy_and_dotted_imports(tmp_path: Path) -> None:
    # Guard against a scanner that silently finds nothing.
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        "import os.path\ndef f():\n    from fastapi.routing import APIRouter\n    return APIRouter\n"
    )
    assert imports_of("pkg", tmp_path) == {"pkg/m.py": {"os", "fastapi"}}
