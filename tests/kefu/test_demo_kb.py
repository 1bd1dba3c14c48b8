"""The demo knowledge base answers what a visitor of a shop asks first, in both languages."""

from __future__ import annotations

from importlib import resources

import pytest

from bot.answerers.retrieval import KnowledgeBaseIndex
from core.knowledge.entries import KbEntry
from core.knowledge.files import read_kb_bytes


@pytest.fixture(scope="module")
def index() -> KnowledgeBaseIndex:
    data = resources.files("kefu").joinpath("data/demo_kb.json").read_bytes()
    parsed = read_kb_bytes(data, "json")
    assert not parsed.rejected
    rows = [p.row for p in parsed.rows]
    return KnowledgeBaseIndex.build(
        [KbEntry(str(i), r.question, r.answer, r.similar) for i, r in enumerate(rows)]
    )


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("who are you", "Who are you?"),
        ("are you a bot?", "Who are you?"),
        ("你是谁", "你是谁？"),
        ("thanks", "Thank you"),
        ("谢谢", "谢谢"),
        ("can I talk to a human", "How can I talk to a human agent?"),
        ("转人工", "怎么联系人工客服？"),
        ("do you ship to Japan", "Do you ship internationally?"),
    ],
)
def test_first_questions_find_their_entry(
    index: KnowledgeBaseIndex, question: str, entry: str
) -> None:
    best = index.best(question)
    assert best is not None and best.entry.question == entry
