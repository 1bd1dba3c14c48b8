"""The console's hit test, answered by the same index and answerer the widget gets."""

from __future__ import annotations

from sqlmodel import Session

from bot.answerers.contract import AnswerRequest, Delta, Final, Hit, KnowledgeIndex
from bot.answerers.knowledge_base import KnowledgeBaseAnswerer
from bot.answerers.language import question_language
from bot.chat.services import ChatServices
from core.errors import InvalidInput
from core.knowledge.hit_test import MAX_QUESTION_CHARS, HitTester, HitTestResult, RankedEntry
from core.licensing.licensees import get_licensee

RANKED = 10  # entries shown


def _threshold(index: KnowledgeIndex, question: str, hits: list[Hit]) -> float:
    if hits and hits[0].threshold is not None:
        return hits[0].threshold
    threshold_for = getattr(index, "threshold_for", None)
    if threshold_for is not None:
        return float(threshold_for(question))
    settings = getattr(index, "settings", None)
    return float(getattr(settings, "threshold", 0.0))


def hit_tester(services: ChatServices) -> HitTester:
    """The console's hit test over the chat server's own index cache and work pool."""

    async def hit_test(licensee_id: str, question: str, locale: str) -> HitTestResult:
        text = question.strip()
        if not text:
            raise InvalidInput("type a question")
        if len(text) > MAX_QUESTION_CHARS:
            raise InvalidInput(f"a question is at most {MAX_QUESTION_CHARS:,} characters")

        def version(session: Session) -> int:
            return get_licensee(session, licensee_id).kb_version

        kb_version = services.db.read(version)
        index = await services.index_cache.get(licensee_id, kb_version)
        hits = await services.workpool.run(licensee_id, lambda: index.search(text, RANKED))
        # The widget's own answerer, on the same index: what it says is what the widget says.
        request = AnswerRequest(
            licensee_id=licensee_id, question=text, locale=locale, history=(), index=index
        )
        pieces: list[str] = []
        final: Final | None = None
        async for event in KnowledgeBaseAnswerer().stream(request):
            if isinstance(event, Delta):
                pieces.append(event.text)
            elif isinstance(event, Final):
                final = event
        assert final is not None
        return HitTestResult(
            question=text,
            language=question_language(text, locale),
            threshold=_threshold(index, text, hits),
            ranked=[
                RankedEntry(h.entry.id, h.entry.question, h.score, index.confident(h)) for h in hits
            ],
            answer_entry_id=final.sources[0].id if final.resolved and final.sources else None,
            answer="".join(pieces),
            kb_version=kb_version,
        )

    return hit_test
