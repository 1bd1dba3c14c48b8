"""The heap freed by a large build is given back to the system."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from bot.answerers.heap import release_free_heap


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_small_blocks_leave_the_resident_set() -> None:
    # 1 KiB blocks come from malloc (above the interpreter's own 512-byte allocator); one kept
    # at the end stops glibc from trimming the top of the heap by itself.
    blocks = [bytes(1024) * 1 + bytes([i % 256]) for i in range(120_000)]
    keep = bytes(2048)
    del blocks
    before = _rss_mib()
    assert release_free_heap()
    after = _rss_mib()
    assert before - after > 60, (before, after)
    assert keep


def test_the_index_factory_releases_after_a_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.answerers import indexing
    from core.knowledge.entries import KbEntry

    calls: list[int] = []

    def release() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(indexing, "release_free_heap", release)
    entry = KbEntry(id="e1", question="怎么退货", answer="七天内可退", similar=("如何退货",))
    index = indexing.IndexFactory(None).build([entry])
    assert index.size == 1
    assert calls == [1]
