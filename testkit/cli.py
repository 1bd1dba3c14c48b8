"""Running the ``kefu`` command line in-process, and what its output must look like."""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kefu.cli import app

Kefu = Callable[..., Result]


def cli_environment(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's environment: no other KEFU_ variable, the database at ``url``, a random
    40-character secret, and a fresh working directory in ``tmp_path``; ``url`` back."""
    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEFU_DATABASE_URL", url)
    alphabet = string.ascii_letters + string.digits
    monkeypatch.setenv("KEFU_SECRET_KEY", "".join(secrets.choice(alphabet) for _ in range(40)))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return url


def kefu_runner() -> Kefu:
    """``kefu ARGS`` run in-process; unless ``ok=False``, it must exit 0."""
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    return run


def one_json(result: Result) -> dict[str, Any]:
    """stdout holds exactly one JSON object and nothing else."""
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    assert result.stdout.strip().count("\n") == 0
    return data


def assert_clean_error(result: Result) -> None:
    """A failure the CLI explains on stderr: no traceback, no crash, nothing on stdout."""
    assert result.exit_code != 0
    assert result.stderr.strip()
    assert "Traceback" not in result.stderr + result.stdout
    assert not isinstance(result.exception, Exception)  # a clean exit, not a crash
    assert result.stdout == ""
