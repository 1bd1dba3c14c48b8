"""The README's operator commands work as written: the first ones run in a shell exactly as the
README shows them, and every command line it lists names a real command with real options."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from kefu.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def shell_blocks(title: str) -> list[str]:
    section = README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_first_commands_run_as_written(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").is_file():
        pytest.skip("no .venv in this checkout: `make demo` makes it")
    first = shell_blocks("Operating it")[0]
    env = {
        # A fresh shell: nothing of this test's own environment puts kefu on the PATH.
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KEFU_DATABASE_URL": f"sqlite:///{tmp_path}/kefu.db",
        "KEFU_SECRET_KEY": secrets.token_urlsafe(40),
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", first],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (first, done.stdout, done.stderr)
    assert "Usage: kefu [OPTIONS] COMMAND" in done.stdout
    assert "/widget.js?key=pk_live_" in done.stdout
    assert re.search(r"^ID +STATUS +SERVICE END +NAME$", done.stdout, re.M)
    assert re.search(r"^lic_\S+ +active +\S+ +Example Shop$", done.stdout, re.M)


def command_at(words: list[str]) -> tuple[Any, list[str]]:
    """The command a line names, and the words that name it."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    return command, path


def listed_lines() -> list[str]:
    return [
        line
        for block in shell_blocks("Operating it")
        for line in block.splitlines()
        if line.startswith("kefu ")
    ]


def test_every_listed_command_exists_with_its_options() -> None:
    lines = listed_lines()
    assert len(lines) >= 25
    wrong = []
    for line in lines:
        words = shlex.split(line, comments=True)[1:]
        if words == ["--help"]:
            continue
        command, path = command_at(words)
        if not path or hasattr(command, "commands"):
            wrong.append(f"{line}: no such command")
            continue
        known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(words)):
            if option not in known:
                wrong.append(f"{line}: kefu {' '.join(path)} has no {option}")
    assert wrong == []
    # Every command of the CLI is in the list.
    named = {" ".join(command_at(shlex.split(line, comments=True)[1:])[1]) for line in lines}
    every = set()
    for name, sub in getattr(typer.main.get_command(app), "commands", {}).items():
        every |= {f"{name} {leaf}" for leaf in getattr(sub, "commands", {})} or {name}
    assert every - named == set()


def test_make_demo_takes_a_port() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        # Run from `make test`, a nested make would print "Entering directory" lines.
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")},
    )
    assert done.stdout.splitlines()[-1].endswith("/kefu demo --port 8123")
