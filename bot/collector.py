"""Keeping the garbage collector's full passes short: what lives as long as the process is
moved out of its sight (``gc.freeze``).

A full (generation 2) collection visits every tracked object. After start-up a server holds
about 300,000 (FastAPI, SQLAlchemy, the retrieval stack, the model clients), and the built
indexes add more: each full pass then took 230-400 ms on this project's 2-core machine under
load, during which the event loop ran nothing, so every socket of the process waited. Frozen
objects are never visited again; they are still freed when their last reference goes. What
a freeze costs: garbage *cycles* frozen with them are never collected, so it is done only at
the few moments the heap holds little else: when the imports are done, after an index build.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("kefu.gc")

_enabled = True


def configure(enabled: bool) -> None:
    """``KEFU_GC_FREEZE``: on unless a comparison wants the collector as it comes."""
    global _enabled
    _enabled = enabled


def freeze_long_lived(after: str) -> None:
    """Move every object alive now out of the collector's passes (O(1): no pass is made)."""
    if not _enabled:
        return
    before = gc.get_freeze_count()
    gc.freeze()
    log.debug("gc: %d objects frozen after %s", gc.get_freeze_count() - before, after)
