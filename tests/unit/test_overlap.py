"""The overlap helpers of ``credit_scoring.io``: order kept, errors raised, one in flight."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from credit_scoring.io import WriteBehind, read_ahead


def test_read_ahead_keeps_the_order_and_runs_one_item_ahead() -> None:
    running: list[int] = []
    lock = threading.Lock()

    def slow_first(item: int) -> int:
        with lock:
            running.append(item)
        time.sleep(0.05 if item == 0 else 0.0)  # the second finishes first
        return item * 10

    seen = []
    with ThreadPoolExecutor(2) as pool:
        for result in read_ahead(pool, slow_first, range(4)):
            seen.append(result)
            # While the caller holds result k, item k + 2 has not been started.
            assert len(running) <= len(seen) + 1
    assert seen == [0, 10, 20, 30]


def test_read_ahead_raises_an_items_error_when_its_result_is_reached() -> None:
    def fail_on_two(item: int) -> int:
        if item == 2:
            raise ValueError("item 2")
        return item

    with ThreadPoolExecutor(1) as pool:
        results = read_ahead(pool, fail_on_two, range(4))
        assert [next(results), next(results)] == [0, 1]
        with pytest.raises(ValueError, match="item 2"):
            next(results)
        assert list(read_ahead(pool, fail_on_two, [])) == []


def test_write_behind_runs_one_write_at_a_time_and_raises_at_the_next_call() -> None:
    written: list[int] = []
    active = []

    def write(item: int) -> None:
        active.append(item)
        assert len(active) == 1  # never two writes at once
        time.sleep(0.01)
        written.append(item)
        active.remove(item)
        if item == 3:
            raise OSError("disk full")

    with ThreadPoolExecutor(2) as pool:
        behind = WriteBehind(pool)
        for item in range(3):
            behind.submit(write, item)
        behind.wait()
        assert written == [0, 1, 2]
        behind.submit(write, 3)
        with pytest.raises(OSError, match="disk full"):
            behind.submit(write, 4)
        behind.wait()  # the failed write is not raised twice
    assert written == [0, 1, 2, 3]
