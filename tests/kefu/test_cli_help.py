"""``kefu --help`` reads like a command line: flags as flags, values named, one line of help for
every command and option, examples where they help."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kefu.cli import app

runner = CliRunner()


def commands(
    group: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group below ``group`` (the whole CLI by default), with its path."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


ALL = sorted(path for path, _ in commands())


def help_of(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], prog_name="kefu")
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "kefu")
def test_help_names_values_not_types(path: tuple[str, ...]) -> None:
    text = help_of(path)
    assert not re.search(r"<(bool|str|int|float|path|list\[[^]]*\])>", text), text
    assert not re.search(r"\{\w+\}", text), text  # {file} is not how a command line names a file
    if "Commands:" in text:  # each command's one line fits, not cut off with "..."
        assert "..." not in text.split("Commands:")[1], text


def test_every_command_and_option_has_one_line_of_help() -> None:
    missing = []
    for path, command in commands():
        if not (command.help or "").strip():
            missing.append(" ".join(path))
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{' '.join(path)} {param.name}")
    assert missing == []


def test_the_examples_people_asked_for() -> None:
    create = help_of(("licensee", "create"))
    assert "Usage: kefu licensee create [OPTIONS]" in create
    assert re.search(r"^  --origin ORIGIN +A site", create, re.M)
    assert "[repeatable; required]" in create
    assert re.search(r"^  --json +Print exactly one JSON object", create, re.M)
    assert "Examples:\n    kefu licensee create --name" in create
    imported = help_of(("kb", "import"))
    assert "Usage: kefu kb import [OPTIONS] FILE\n" in imported
    assert re.search(r"^  FILE +A \.csv, \.xlsx or \.json file", imported, re.M)
    assert re.search(r"^  --licensee ID +The licensee's id", imported, re.M)
