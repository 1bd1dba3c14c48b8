"""What one full garbage collection costs on a server's heap, before and after ``gc.freeze()``.

The heap of `kefu serve` once its modules, model clients and an index of 3,000 entries (the
attack bench's attacker) are loaded: a full (generation 2) collection visits all of it, and the
event loop runs nothing meanwhile. Measured in CPU time of this thread (best of 3), so that the
figure does not depend on what else the machine runs. Then the same after ``gc.freeze()``, which
the server does after start-up and after each index build (bot/collector.py), and with 30,000
containers created afterwards, as a busy process holds.
"""

from __future__ import annotations

import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_collection() -> float:
    start = time.thread_time()
    gc.collect()
    return time.thread_time() - start


def report(label: str) -> None:
    tracked = len(gc.get_objects())
    best = min(one_collection() for _ in range(3))
    print(f"{label}: {tracked:,} tracked objects, full collection {best * 1000:.1f} ms of CPU")


def main() -> int:
    import attack

    import bot.answerers.retrieval  # noqa: F401 - the retrieval stack, as the server warms it
    import kefu.app  # noqa: F401 - the server's modules
    from bot.chat.services import build_default_index
    from bot.llm import backends
    from core.knowledge.entries import KbEntry

    backends.warm_up()
    rng = random.Random(3)
    words = attack.WORDS
    entries = [
        KbEntry(
            id=f"e{i}",
            question=" ".join(rng.choices(words, k=8)) + f" {i}?",
            answer=f"Answer {i}.",
            similar=(" ".join(rng.choices(words, k=7)), " ".join(rng.choices(words, k=9))),
        )
        for i in range(attack.N_ATTACK_ENTRIES)
    ]
    index = build_default_index(entries)
    report(f"modules, model clients, an index of {len(entries):,} entries")
    gc.freeze()
    report("after gc.freeze()")
    alive = [{"i": i, "items": [i]} for i in range(30_000)]
    report(f"after gc.freeze(), {len(alive):,} new containers alive")
    del index
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
