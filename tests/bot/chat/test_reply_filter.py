"""The content filter on a streamed reply: an answer known whole up front is checked once, as a
whole, and anything else still goes through the piece-by-piece guard without a gap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from bot.answerers.contract import AnswerEvent, Delta, Final, Restart
from bot.answerers.knowledge_base import pieces
from bot.chat.reply import BrokenAnswer, Reply
from core.chat.frames import ReplyDelta, ReplyRestart, ServerFrame
from core.moderation import matcher as content_filter
from core.moderation.matcher import Matcher, WordList, clean_cut

pytestmark = pytest.mark.anyio

FINAL = Final(producer="kefu", model="kefu-kb-1", sources=[], resolved=True)


class CountingMatcher(Matcher):
    """Counts the texts it scans from the start (``find``), so a test can tell a whole-text
    check from piece-by-piece filtering."""

    def __init__(self, terms: Iterable[str]) -> None:
        super().__init__(WordList(tuple(terms)))
        self.finds: list[str] = []

    def find(self, text: str) -> content_filter.Match | None:
        self.finds.append(text)
        return super().find(text)


class Session:
    def __init__(self) -> None:
        self.frames: list[ServerFrame] = []

    async def send(self, frame: ServerFrame) -> None:
        self.frames.append(frame)

    def shown(self) -> str:
        text = ""
        for frame in self.frames:
            if isinstance(frame, ReplyRestart):
                text = ""
            elif isinstance(frame, ReplyDelta):
                text += frame.text
        return text


async def events(*items: AnswerEvent) -> AsyncIterator[AnswerEvent]:
    for item in items:
        yield item


async def run(matcher: Matcher, *items: AnswerEvent) -> tuple[Session, Final | None, str | None]:
    session = Session()
    reply = Reply(session.send, "msg_1")
    final, term = await reply.stream(events(*items), matcher)
    await reply.close()
    return session, final, term


def whole(text: str) -> list[AnswerEvent]:
    out: list[AnswerEvent] = [Delta(piece, whole=text) for piece in pieces(text)]
    return [*out, FINAL]


async def test_a_known_answer_is_checked_once_and_shown_whole() -> None:
    matcher = CountingMatcher(["gambling"])
    text = "Open the order, choose Refund, and give a reason. The money is back in 3 days."
    for _ in range(3):  # the same answer again: its verdict is remembered
        session, final, term = await run(matcher, *whole(text))
        assert (session.shown(), final, term) == (text, FINAL, None)
    assert matcher.finds == [text]


async def test_a_known_answer_with_a_blocked_term_shows_nothing() -> None:
    matcher = CountingMatcher(["gambling"])
    text = "Our partner runs a gambling site. Ask them, please."
    session, final, term = await run(matcher, *whole(text))
    assert (session.frames, final, term) == ([], None, "gambling")


async def test_pieces_that_leave_the_known_answer_break_it_and_show_no_term() -> None:
    matcher = CountingMatcher(["gambling"])
    known = "We never offer games."
    # The first piece belongs to the known answer; the next claims it but does not fit it,
    # and a term runs across the two.
    first, odd = Delta("We never offer gam", whole=known), Delta("bling tips.", whole=known)
    session = Session()
    reply = Reply(session.send, "msg_1")
    with pytest.raises(BrokenAnswer):
        await reply.stream(events(first, odd, FINAL), matcher)
    await reply.close()
    assert session.shown() == ""  # cut inside a word: held, and never shown


async def test_a_known_answer_cut_short_shows_only_what_a_separator_ends() -> None:
    """A prefix cut inside a word can hold a term the whole does not ("cock" of "cockpit")."""
    matcher = CountingMatcher(["cock"])
    whole_text = "Book cockpit tours, see planes."
    session = Session()
    reply = Reply(session.send, "msg_1")
    pieces_sent: list[AnswerEvent] = [
        Delta("Book ", whole=whole_text),
        Delta("cock", whole=whole_text),
        FINAL,
    ]
    with pytest.raises(BrokenAnswer):
        await reply.stream(events(*pieces_sent), matcher)
    await reply.close()
    assert session.shown() == "Book "


@pytest.mark.parametrize(
    ("text", "at", "clean"),
    [
        ("cockpit tours", 4, False),  # inside a word
        ("Book cockpit", 5, True),  # after a space
        ("好的，谢谢", 3, True),  # after a full-width comma
        ("word\u200b more", 5, False),  # an invisible character does not make a separator
        ("word \u200b", 6, True),
        ("anything", 0, True),
    ],
)
def test_clean_cuts(text: str, at: int, clean: bool) -> None:
    assert clean_cut(text, at) is clean


async def test_pieces_without_a_known_answer_are_guarded_piece_by_piece() -> None:
    matcher = CountingMatcher(["gambling"])
    session, final, term = await run(matcher, Delta("Try gam"), Delta("bling!"), FINAL)
    assert (final, term) == (None, "gambling")
    assert "gam" not in session.shown()
    assert matcher.finds == []  # never a whole-text check without a known answer


async def test_after_a_restart_a_known_answer_is_checked_again() -> None:
    matcher = CountingMatcher(["gambling"])
    first = "Something was said."
    second = "The best gambling site."
    _session, final, term = await run(
        matcher, *whole(first)[:-1], Restart("next link"), *whole(second)
    )
    assert (final, term) == (None, "gambling")
    assert matcher.finds == [first, second]


def test_remembered_verdicts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_filter, "VERDICTS", 3)
    matcher = CountingMatcher(["gambling"])
    for n in range(3):
        assert matcher.find_known(f"answer {n}") is None
    assert matcher.find_known("answer 0") is None and len(matcher.finds) == 3  # remembered
    assert matcher.find_known("answer 3") is None  # a fourth text: the memory starts afresh
    assert matcher.find_known("answer 0") is None and len(matcher.finds) == 5  # scanned again
    found = matcher.find_known("no gambling here")
    assert found is not None and found.term == "gambling"
