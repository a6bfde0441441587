"""Wait on a condition with a deadline, never on a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Returns the first truthy value of condition(); fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


def wait_for_count(count: Callable[[], int], target: int, stall: float = 60.0) -> int:
    """Waits until count() reaches target; fails only when it stops moving for `stall` seconds.

    For long drains: a loaded machine makes them slower, not stuck, so the bound is on progress
    rather than on the total time.
    """
    last, moved_at = -1, time.monotonic()
    while True:
        value = count()
        if value >= target:
            return value
        if value != last:
            last, moved_at = value, time.monotonic()
        elif time.monotonic() - moved_at > stall:
            raise AssertionError(f"stuck at {value} of {target} for {stall}s: {count}")
        time.sleep(0.2)
