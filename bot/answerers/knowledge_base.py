"""The built-in answerer: the best-matching FAQ answer, or an honest offer of a person."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from functools import lru_cache

from bot.answerers.contract import AnswerEvent, AnswerRequest, Delta, Final
from bot.answerers.language import is_clearly_chinese, question_language

__all__ = ["is_clearly_chinese"]  # re-exported: callers asked this module before

PRODUCER = "kefu"
MODEL = "kefu-kb-1"

DONT_KNOW_ZH = "抱歉，这个问题我暂时回答不了。您可以转人工客服，由工作人员为您解答。"
DONT_KNOW_EN = (
    "Sorry, I don't know the answer to that. A person from our team can help you with it."
)

# A piece ends after sentence or clause punctuation plus any closing quotes and spaces. ASCII
# marks only count before a space or the end, so "3.5", "1,000" and "e.g.x" stay whole.
_PIECE_END = re.compile(
    r"(?:[。！？；，、：…]+|[.!?;,:]+(?=\s|$)|\n)[\"'”’」』）)\]]*\s*",
)


@lru_cache(maxsize=4096)  # the same few answers are given again and again
def pieces(text: str) -> tuple[str, ...]:
    """``text`` cut after each sentence or clause; the pieces join back to exactly ``text``."""
    out: list[str] = []
    start = 0
    for match in _PIECE_END.finditer(text):
        if match.end() > start:
            out.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        out.append(text[start:])
    return tuple(out)


def dont_know(locale: str, question: str) -> str:
    """The "don't know" answer in the question's language (the locale's when it has none)."""
    return DONT_KNOW_ZH if question_language(question, locale) == "zh" else DONT_KNOW_EN


class KnowledgeBaseAnswerer:
    """Answers with the licensee's own FAQ text, verbatim, streamed a clause at a time."""

    name = "kefu-kb"

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        # Retrieval takes about a millisecond, so it runs inline rather than in a thread.
        hit = request.index.best(request.question)
        language = question_language(request.question, request.locale)
        text = (
            dont_know(request.locale, request.question)
            if hit is None
            else hit.entry.answer_in(language)
        )
        for piece in pieces(text):
            yield Delta(piece, whole=text)
        if hit is None:
            yield Final(producer=PRODUCER, model=MODEL, sources=[], resolved=False)
        else:
            yield Final(producer=PRODUCER, model=MODEL, sources=[hit.entry], resolved=True)
