"""What an answerer is given as history: the last turns the filter lets through, per unit."""

from __future__ import annotations

from bot.answerers.contract import Turn
from bot.chat.memory import Memory
from core.chat.frames import Role
from core.moderation.matcher import Matcher, WordList


def visitor(text: str) -> Turn:
    return Turn(Role.VISITOR, text)


def test_only_the_last_turns_are_kept() -> None:
    memory = Memory(None, turns=3)
    for n in range(5):
        memory.remember(visitor(f"t{n}"))
    assert [t.text for t in memory.history()] == ["t2", "t3", "t4"]


def test_a_turn_the_filter_stops_never_reaches_a_model() -> None:
    memory = Memory(Matcher(WordList(("gambling",))))
    memory.remember(visitor("hello"))
    memory.remember(visitor("a gambling tip"))  # judged by the filter
    memory.remember(visitor("told as blocked"), allowed=False)  # judged already
    memory.remember(Turn(Role.ROBOT, "streamed and checked"), allowed=True)
    assert [t.text for t in memory.history()] == ["hello", "streamed and checked"]


def test_a_new_conversation_remembers_nothing_of_the_last() -> None:
    memory = Memory(None)
    memory.start("conv_1")
    memory.remember(visitor("hi"))
    memory.follow("conv_1")
    assert len(memory.history()) == 1
    memory.follow("conv_2")
    assert memory.history() == () and memory.conversation_id == "conv_2"
