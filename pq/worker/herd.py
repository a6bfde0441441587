"""No thundering herd: how an idle worker answers a "new task" notice.

Every notice reaches every listening worker: one per queue set and machine since the listener
slot (pq/worker/slot.py), but still one per machine. Answered at once by all of them, one
claim gets the row and the others commit empty claims: 8 idle workers made 8 commits per task
where one made 2. So a worker whose claim after a notice came back empty (another worker was faster)
answers the next notices only after a short, randomised and growing pause (20 ms doubling to
0.5 s), then claims once for all the notices it deferred. The first claim that finds rows, or
a quiet spell, ends the pause. A lone task after a quiet spell is still claimed at once, and
a worker that is getting work is never paused.
"""

from __future__ import annotations

import random

FIRST_PAUSE = 0.02
MAX_PAUSE = 0.5


class NoticeDamper:
    def __init__(self) -> None:
        self.until = 0.0  # notices before this moment are deferred to it
        self.step = 0.0
        self.deferred = False
        self.from_notice = False  # the next claim answers a notice

    def on_notice(self, now: float) -> bool:
        """A notice for our queues arrived: True to claim now, False if deferred."""
        if now >= self.until:
            self.from_notice = True
            return True
        self.deferred = True
        return False

    def due(self, now: float) -> bool:
        """True once, when the pause of deferred notices is over: claim then."""
        if self.deferred and now >= self.until:
            self.deferred = False
            self.from_notice = True
            return True
        return False

    def wake_at(self) -> float | None:
        return self.until if self.deferred else None

    def claimed(self, now: float, rows: int) -> None:
        if rows:
            self.step, self.until = 0.0, 0.0
        elif self.from_notice:  # woken for a row another worker took first
            if now - self.until > 10 * MAX_PAUSE:
                self.step = 0.0  # a quiet spell since the last lost race: start small again
            self.step = min(MAX_PAUSE, self.step * 2 or FIRST_PAUSE)
            self.until = now + self.step * random.uniform(0.5, 1.0)
        self.from_notice = False
