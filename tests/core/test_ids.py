"""Identifiers: unique, time-ordered, and never repeated by a forked child or another thread."""

from __future__ import annotations

import os
import re
import threading

from core.ids import new_id

_SHAPE = re.compile(r"^msg_[0-9a-hjkmnp-tv-z]{26}$")


def test_ids_have_their_shape_and_sort_by_time() -> None:
    ids = [new_id("msg") for _ in range(5_000)]
    assert all(_SHAPE.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    # The first 10 characters are the milliseconds, so sorting never puts a later id first.
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)


def test_threads_never_share_random_bytes() -> None:
    found: list[list[str]] = []

    def make() -> None:
        found.append([new_id("v") for _ in range(2_000)])

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for batch in found for i in batch]
    assert len(set(everything)) == 8_000


def test_a_forked_child_does_not_repeat_the_parents_next_ids() -> None:
    new_id("msg")  # the pool holds unused bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, " ".join(new_id("msg")[14:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_id("msg")[14:] for _ in range(50)}
    assert len(child) == 50
    assert not child & parent
