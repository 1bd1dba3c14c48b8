"""Fixtures of the command-line tests: the CLI's environment and a way to run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.cli import Kefu, cli_environment, kefu_runner


@pytest.fixture
def cli_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's environment: a SQLite file in a temp dir and a random 40-character secret."""
    return cli_environment(f"sqlite:///{tmp_path}/data/kefu.db", tmp_path, monkeypatch)


@pytest.fixture
def kefu(cli_url: str) -> Kefu:
    """``kefu ARGS`` in-process in the CLI's environment (a module may override ``cli_url``)."""
    return kefu_runner()
