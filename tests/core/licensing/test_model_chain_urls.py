"""Base URLs of a model link: anything that is not a plain http(s) URL is a clear InvalidInput."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.licensing.model_chain import _check


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://host:port/v1",
        "http://host:99999/v1",
        "ftp://host/v1",
        "host/v1",
        "http:///v1",
    ],
)
def test_a_malformed_base_url_is_invalid_input_not_a_traceback(url: str) -> None:
    with pytest.raises(InvalidInput, match="base URL"):
        _check("openai", url, "m", 5, 30)


@pytest.mark.parametrize(
    "url", ["http://[::1]:8080/v1", "https://api.example.com/v1", "http://127.0.0.1:11434"]
)
def test_plain_http_urls_pass(url: str) -> None:
    assert _check("openai", url, "m", 5, 30).value == "openai"
