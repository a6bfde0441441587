"""When an enqueue wakes the workers: at once after a quiet spell, at most once per window
in a burst, and always once more after the burst's last enqueue.

Every NOTIFY takes a database-wide lock at commit and signals every listening backend, so a
NOTIFY per insert serialises busy producers (measured: 0.65x the rate with 4 idle listening
workers). Workers need one wake-up per burst, not one per row: a claim takes as many rows as
the worker has free slots, and a worker that took a full batch claims again before sleeping.

The first enqueue of a queue in a window notifies in its own statement (pick-up latency
unchanged for single tasks). Later ones in the same window insert silently and a timer sends
one NOTIFY for their queues when the window ends, after their commits, so no row waits for
the workers' poll. A caller's transaction (`connection=`) always notifies in its statement:
we do not see its commit. A forked child (a task that enqueues) always notifies too: it may
exit before a timer fires.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable

log = logging.getLogger("pq")

_gates: weakref.WeakSet[NotifyGate] = weakref.WeakSet()


class NotifyGate:
    """Per producer process and app: decides which enqueues notify, sends the trailing ones."""

    def __init__(self, window: float, send: Callable[[list[str]], None]) -> None:
        self.window = window  # seconds; 0 notifies on every enqueue
        self._send = send  # sends one NOTIFY per queue given, in a transaction of its own
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # queue -> when its last notice went out
        self._owed: set[str] = set()  # queues with silent inserts since their last notice
        self._timer: threading.Timer | None = None
        self._forked = False
        _gates.add(self)

    def notify_now(self, queue: str) -> bool:
        """Whether the insert about to run should carry its own NOTIFY."""
        if self.window <= 0 or self._forked:
            return True
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(queue, -self.window) >= self.window:
                self._last[queue] = now
                return True
        return False

    def owe(self, queue: str) -> None:
        """A silent insert of `queue` has committed: a notice is due at the window's end."""
        with self._lock:
            self._owed.add(queue)
            if self._timer is None:
                due = self._last.get(queue, time.monotonic()) + self.window
                self._timer = threading.Timer(max(0.0, due - time.monotonic()), self._flush)
                self._timer.name = "pq-notify"
                self._timer.start()  # not a daemon: a process that exits sends it first

    def flush(self) -> None:
        """Sends what is owed now (before the pool closes), instead of at the window's end."""
        with self._lock:
            timer = self._timer
        if timer is not None:
            timer.cancel()
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            queues, self._owed, self._timer = sorted(self._owed), set(), None
            now = time.monotonic()
            for queue in queues:
                self._last[queue] = now
        if not queues:
            return
        try:
            self._send(queues)
        except Exception as exc:  # the workers' poll finds the rows anyway
            log.warning("could not wake the workers for queue(s) %s: %s", ",".join(queues), exc)


def _forget_in_child() -> None:
    # The timer thread did not survive the fork; the child notifies on every enqueue.
    for gate in list(_gates):
        gate._lock = threading.Lock()
        gate._timer = None
        gate._owed = set()
        gate._forked = True


os.register_at_fork(after_in_child=_forget_in_child)
