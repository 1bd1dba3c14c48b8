"""Giving the heap freed by a large build back to the operating system (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_trim: Callable[[int], int] | None = None
_looked = False


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _looked
    with _lock:
        if not _looked:
            _looked = True
            if sys.platform.startswith("linux"):
                try:
                    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                    _trim = libc.malloc_trim  # absent from musl: AttributeError
                    _trim.argtypes = [ctypes.c_size_t]
                    _trim.restype = ctypes.c_int
                except (OSError, AttributeError):
                    _trim = None
    return _trim


def release_free_heap() -> bool:
    """Hand the free pages of the C heap back to the system; whether it
    could (glibc only; elsewhere nothing is done).

    An index build allocates and frees hundreds of MiB of small objects (its calibration builds
    three more indexes); glibc keeps the freed pages resident for reuse. At 10,000 entries that
    was 150 MiB of a process's resident set after the build (bench/hybrid_speed.py)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)  # ctypes lets go of the interpreter lock while it runs
    return True
