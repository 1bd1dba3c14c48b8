"""The built-in answerer: the best-matching FAQ answer, or an honest offer of a person."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from functools import lru_cache

from bot.answerers.contract import AnswerEvent, AnswerRequest, Delta, Final

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
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_LATIN = re.compile(r"[A-Za-z]")


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


def is_clearly_chinese(text: str) -> bool:
    """Written mainly in Chinese characters (Japanese, which also uses them, has kana)."""
    han = len(_HAN.findall(text))
    return han >= 2 and not _KANA.search(text) and 2 * han >= len(_LATIN.findall(text))


def dont_know(locale: str, question: str) -> str:
    if locale.lower().startswith("zh") or is_clearly_chinese(question):
        return DONT_KNOW_ZH
    return DONT_KNOW_EN


class KnowledgeBaseAnswerer:
    """Answers with the licensee's own FAQ text, verbatim, streamed a clause at a time."""

    name = "kefu-kb"

    async def stream(self, request: AnswerRequest) -> AsyncIterator[AnswerEvent]:
        # Retrieval takes about a millisecond, so it runs inline rather than in a thread.
        hit = request.index.best(request.question)
        text = dont_know(request.locale, request.question) if hit is None else hit.entry.answer
        for piece in pieces(text):
            yield Delta(piece, whole=text)
        if hit is None:
            yield Final(producer=PRODUCER, model=MODEL, sources=[], resolved=False)
        else:
            yield Final(producer=PRODUCER, model=MODEL, sources=[hit.entry], resolved=True)
