"""`kefu model`: a licensee's own chain; API keys from the environment or stdin, never shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kefu.cli import app
from testkit.cli import assert_clean_error, one_json


def licensee(kefu: Callable[..., Result]) -> str:
    out = one_json(
        kefu("licensee", "create", "--name", "Shop", "--origin", "https://a.cn", "--json")
    )
    return str(out["id"])


def test_set_list_clear_with_a_key_from_the_environment(
    kefu: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    lic = licensee(kefu)
    listed = one_json(kefu("model", "list", lic, "--json"))
    assert listed["source"] == "built-in only" and listed["models"] == []

    monkeypatch.setenv("PROVIDER_KEY", "sk-very-secret-123")
    out = kefu(
        "model", "set", lic, "--provider", "openai", "--base-url", "https://api.example.cn/v1/",
        "--model", "deepseek-chat", "--api-key-env", "PROVIDER_KEY", "--json",
    )  # fmt: skip
    shown = one_json(out)
    assert shown["api_key"] == "set" and shown["base_url"] == "https://api.example.cn/v1"
    assert "sk-very-secret-123" not in out.stdout + out.stderr

    kefu("model", "set", lic, "--slot", "2", "--provider", "ollama", "--base-url",
         "http://10.0.0.5:11434", "--model", "qwen2.5:7b", "--timeout", "30")  # fmt: skip
    listed_out = kefu("model", "list", lic, "--json")
    listed = one_json(listed_out)
    assert listed["source"] == "licensee"
    assert [(m["slot"], m["provider"], m["api_key"]) for m in listed["models"]] == [
        (1, "openai", "set"),
        (2, "ollama", None),
    ]
    assert listed["models"][1]["timeout"] == 30
    assert "sk-very-secret-123" not in listed_out.stdout

    # Changing a timeout keeps the key; --clear-api-key removes it.
    again = one_json(kefu("model", "set", lic, "--provider", "openai", "--base-url",
                          "https://api.example.cn/v1", "--model", "deepseek-chat",
                          "--timeout", "20", "--json"))  # fmt: skip
    assert again["api_key"] == "set" and again["timeout"] == 20
    cleared = one_json(kefu("model", "set", lic, "--provider", "openai", "--base-url",
                            "https://api.example.cn/v1", "--model", "deepseek-chat",
                            "--clear-api-key", "--json"))  # fmt: skip
    assert cleared["api_key"] is None

    one_json(kefu("model", "clear", lic, "--slot", "2", "--json"))
    assert len(one_json(kefu("model", "list", lic, "--json"))["models"]) == 1
    assert_clean_error(kefu("model", "clear", lic, "--slot", "2", ok=False))


def test_the_key_from_standard_input(kefu: Callable[..., Result], cli_url: str) -> None:
    lic = licensee(kefu)
    result = CliRunner().invoke(
        app,
        [
            "model",
            "set",
            lic,
            "--provider",
            "openai",
            "--base-url",
            "https://x.cn/v1",
            "--model",
            "m",
            "--api-key-stdin",
            "--json",
        ],
        input="sk-from-stdin\n",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["api_key"] == "set"
    assert "sk-from-stdin" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "anthropic", "--base-url", "https://x.cn", "--model", "m"], "provider"),
        (["--provider", "openai", "--base-url", "ftp://x.cn", "--model", "m"], "base URL"),
        (["--provider", "openai", "--base-url", "https://u:pw@x.cn/v1", "--model", "m"],
         "credentials"),
        (["--provider", "openai", "--base-url", "https://x.cn", "--model", "m", "--slot", "3"],
         "slot"),
        (["--provider", "openai", "--base-url", "https://x.cn", "--model", "m",
          "--first-token-timeout", "90", "--timeout", "30"], "timeouts"),
        (["--provider", "openai", "--base-url", "https://x.cn", "--model", "m",
          "--api-key-env", "NOT_SET_ANYWHERE"], "not set"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clean_error(
    kefu: Callable[..., Result], args: list[str], message: str
) -> None:
    lic = licensee(kefu)
    result: Any = kefu("model", "set", lic, *args, ok=False)
    assert_clean_error(result)
    assert message in result.stderr


def test_an_unknown_licensee(kefu: Callable[..., Result]) -> None:
    result = kefu("model", "list", "lic_nope", ok=False)
    assert_clean_error(result)
    assert "lic_nope" in result.stderr
