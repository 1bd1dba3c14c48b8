"""Answers from language models (through LangChain), grounded in the licensee's knowledge base.

Importing this package is cheap: LangChain is imported only when a model is first built, or by
``warm_up()``, which a server may call in a background thread after it has started.
"""

from __future__ import annotations

from bot.llm.answerer import ModelAnswerer
from bot.llm.backends import BackendSpec, aclose_clients, chat_model, warm_up
from bot.llm.chain import FallbackChain
from bot.llm.errors import ModelCallFailed

__all__ = [
    "BackendSpec",
    "FallbackChain",
    "ModelAnswerer",
    "ModelCallFailed",
    "aclose_clients",
    "chat_model",
    "warm_up",
]
