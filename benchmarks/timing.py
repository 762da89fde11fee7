"""Timing helpers the benchmarks share."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(call: Callable[[], object], calls: int) -> float:
    """The median wall time of ``calls`` calls, after one untimed call.

    The first call warms caches and lazy imports; the median keeps one scheduler
    hiccup on a shared machine from moving the figure.
    """
    call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
