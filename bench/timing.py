"""Timing helper shared by the benchmark scripts: the median of repeated runs (machines are noisy)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Run ``fn`` ``repeat`` times; return (median wall time in s, the last result)."""
    times, out = [], None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out
