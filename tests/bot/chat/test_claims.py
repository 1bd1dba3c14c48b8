"""The cross-tab answering registry: counted holds on visitor messages."""

from __future__ import annotations

from bot.chat.claims import Claims, MessageKey

Q = MessageKey("lic_1", "v_1", "q")


def test_a_message_is_held_until_every_holder_lets_go() -> None:
    claims = Claims()
    assert not claims.held(Q)
    first, second = claims.claim(Q), claims.claim(Q)
    first.release()
    assert claims.held(Q)
    second.release()
    assert not claims.held(Q) and len(claims) == 0


def test_releasing_twice_lets_go_once() -> None:
    claims = Claims()
    first, second = claims.claim(Q), claims.claim(Q)
    first.release()
    first.release()
    assert claims.held(Q)
    second.release()
    assert not claims.held(Q)


def test_a_with_block_holds_for_its_length_even_when_it_raises() -> None:
    claims = Claims()
    try:
        with claims.claim(Q):
            assert claims.held(Q)
            raise RuntimeError("storing failed")
    except RuntimeError:
        pass
    assert not claims.held(Q)


def test_keys_are_per_licensee_visitor_and_client_id() -> None:
    claims = Claims()
    with claims.claim(Q):
        assert not claims.held(MessageKey("lic_2", "v_1", "q"))
        assert not claims.held(MessageKey("lic_1", "v_2", "q"))
        assert not claims.held(MessageKey("lic_1", "v_1", "r"))
