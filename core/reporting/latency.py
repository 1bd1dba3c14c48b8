"""Answer latency as a fixed-bucket histogram: days add up, and p50/p95 of any range are read
off the sum.

A reply's latency is the time from the question it answers to the stored reply (replies are
made in the order questions came, so the k-th reply of a conversation answers its k-th visitor
message). The buckets grow by a quarter from 50 ms to 10 minutes, so a percentile is known to
within one bucket: it is reported as the bucket's upper bound ("p95 <= 1.25 s"), never an
interpolation, which is what makes the stored figure and the rebuilt one the same number.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

# Upper bounds in milliseconds; bucket i holds (BOUNDS_MS[i-1], BOUNDS_MS[i]], the last one is
# open-ended (longer than the last bound).
BOUNDS_MS: tuple[int, ...] = tuple(sorted({round(50 * 1.25**i) for i in range(43)} | {600_000}))
OVERFLOW = len(BOUNDS_MS)  # the open-ended bucket's index


def bucket_of(ms: float) -> int:
    """The bucket of a latency of ``ms`` milliseconds (negative clock skew counts as 0)."""
    return bisect_left(BOUNDS_MS, max(ms, 0))


def percentile(histogram: Mapping[int, int], share: float) -> int | None:
    """The upper bound (ms) of the bucket holding the ``share`` quantile (nearest rank), or
    None when the histogram is empty; the open-ended bucket reports its lower bound."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, -(-int(share * 1000) * total // 1000))  # ceil(share * total), exact
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return BOUNDS_MS[min(bucket, OVERFLOW - 1)]
    raise AssertionError("unreachable: the ranks add up to the total")
