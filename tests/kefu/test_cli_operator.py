"""What an operator meets in the first hour: duplicate names, the licensee table, the snippet
to hand over, a busy port, and errors that say what went wrong with their own exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import pytest
from typer.testing import Result

from core.errors import ExitCode
from testkit.cli import assert_clean_error, one_json
from testkit.tenants import ORIGIN


def create(kefu: Callable[..., Result], name: str, *extra: str, ok: bool = True) -> Result:
    return kefu("licensee", "create", "--name", name, "--origin", ORIGIN, *extra, ok=ok)


def test_a_second_licensee_of_the_same_name_is_refused_ignoring_case(
    kefu: Callable[..., Result],
) -> None:
    first = one_json(create(kefu, "Example Shop", "--json"))
    for twin in ("Example Shop", "example shop", "  EXAMPLE SHOP "):
        refused = create(kefu, twin, "--json", ok=False)
        assert_clean_error(refused)
        assert refused.exit_code == ExitCode.CONFLICT
        assert first["id"] in refused.stderr
    # Case folding is Unicode's, not ASCII's: "STRASSE" is "straße".
    one_json(create(kefu, "Straße", "--json"))
    assert_clean_error(create(kefu, "STRASSE", "--json", ok=False))
    listed = one_json(kefu("licensee", "list", "--json"))["licensees"]
    assert [r["name"] for r in listed] == ["Example Shop", "Straße"]

    second = one_json(create(kefu, "example shop", "--allow-duplicate-name", "--json"))
    assert second["id"] != first["id"]
    assert len(one_json(kefu("licensee", "list", "--json"))["licensees"]) == 3


def test_licensee_list_is_a_table_with_headers(kefu: Callable[..., Result]) -> None:
    assert kefu("licensee", "list").stdout == "(no licensees)\n"
    shop = one_json(create(kefu, "Shop", "--json"))
    wide = one_json(create(kefu, "客服演示商城", "--json"))
    kefu("licensee", "suspend", wide["id"])

    lines = kefu("licensee", "list").stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SERVICE", "END", "NAME"]
    assert lines[1].split()[:2] == [shop["id"], "active"]
    assert lines[2].split()[:2] == [wide["id"], "suspended"]
    # Columns line up under their headers, Chinese names (two columns a character) included.
    assert lines[1].endswith("Shop") and lines[2].endswith("客服演示商城")
    assert lines[0].index("NAME") == lines[1].index("Shop") == lines[2].index("客服演示商城")
    assert json.loads(kefu("licensee", "list", "--json").stdout)["licensees"][0]["id"] == shop["id"]


def test_licensee_create_prints_the_script_lines_for_both_site_keys(
    kefu: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    said = create(kefu, "Shop").stdout
    keys = dict(line.split(": ", 1) for line in said.splitlines()[:4])
    assert f'<script src="https://HOST/widget.js?key={keys["site_key"]}" async></script>' in said
    assert f'widget.js?key={keys["test_site_key"]}"' in said
    assert "KEFU_PUBLIC_URL" in said  # says how to fill in HOST
    assert keys["secret_key"] not in said.split("(the secret key", 1)[1]

    monkeypatch.setenv("KEFU_PUBLIC_URL", "https://chat.example.com/")
    said = create(kefu, "Other").stdout
    assert '<script src="https://chat.example.com/widget.js?key=pk_live_' in said
    assert "KEFU_PUBLIC_URL" not in said


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_busy_port_is_reported_before_the_url_with_what_changes_it(
    kefu: Callable[..., Result], busy_port: int, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: served.append(a))
    result = kefu(command, "--port", str(busy_port), ok=False)
    assert_clean_error(result)
    assert result.exit_code == ExitCode.CONFIG
    assert f"port {busy_port}" in result.stderr
    assert "--port" in result.stderr and "KEFU_PORT" in result.stderr
    assert "PORT=" in result.stderr  # make demo PORT=…
    assert "http://" not in result.stderr  # no URL that leads nowhere
    assert served == []


def test_errors_have_their_own_exit_codes(kefu: Callable[..., Result]) -> None:
    missing = kefu("licensee", "show", "lic_nope", ok=False)
    assert_clean_error(missing)
    assert missing.exit_code == ExitCode.NOT_FOUND
    assert missing.stderr == "error: no licensee 'lic_nope'\n"
    bad = kefu("licensee", "create", "--name", "X", "--origin", "ftp://x", ok=False)
    assert_clean_error(bad)
    assert bad.exit_code == ExitCode.INVALID
    assert bad.stderr.startswith("error: origin must be http:// or https://")
