"""Spare children: the fork taken off the pick-up path (`pq worker --spares N`).

A spare is forked at the end of a loop turn, once the parent's state for that turn is final
(claims committed, endings recorded, buffers flushed), exactly as a task's child would have
been forked a moment later. It becomes independent (own process group, default signals) and
blocks on its handoff pipe. When a row is claimed, the parent writes it to a waiting spare
(pq/worker/handoff.py) instead of forking: the spare runs that one task and exits, so every
task still runs in a fresh child of its own. A spare idle longer than `spare_max_idle` is
retired (its pipe closed: it exits) and replaced, so none lives on with old state; all are
retired when the worker stops, and each exits by itself if the parent dies (EOF).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from pq.worker import handoff
from pq.worker.ahead import ClaimAhead
from pq.worker.attempt import Child
from pq.worker.child import prepare, run_spare
from pq.worker.handoff import Spare

log = logging.getLogger("pq.worker")


class Standby(ClaimAhead):
    def _fork(self, row: dict[str, Any]) -> None:
        prepare(self.runtime, row["name"])
        while spare := next((s for s in self.spares if s.reuse == 1), None):
            self.spares.remove(spare)
            if self._hand_off(spare, row):
                return
        super()._fork(row)

    def _hand_off(self, spare: Spare, row: dict[str, Any], *, keep_pipe: bool = False) -> bool:
        max_runtime, limits = self._limits_of(row)
        try:
            handoff.send(spare.handoff_fd, handoff.encode(row, limits))
        except OSError:  # it died waiting: reaped as idle; fork instead
            self._retire(spare)
            return False
        if not keep_pipe:  # one task only: it reads EOF if it ever asks again
            os.close(spare.handoff_fd)
        self._started(Child(spare.pid, row, spare.read_fd, time.monotonic(), max_runtime, limits))
        return True

    def _replenish_spares(self) -> None:
        """Called just before the loop sleeps: the parent's state is final for this turn."""
        now = time.monotonic()
        for spare in [s for s in self.spares if now - s.born > self.settings.spare_max_idle]:
            self._retire(spare)
        missing = self.settings.spares - sum(1 for s in self.spares if s.reuse == 1)
        if self.stopping or missing <= 0:
            return
        self._before_forks()
        for _ in range(missing):
            self._fork_spare()

    def _spare_wake(self) -> list[float]:
        return [s.born + self.settings.spare_max_idle for s in self.spares]

    def _fork_spare(self) -> None:
        self.spares.append(
            self._fork_waiting(
                lambda handoff_fd, report_fd, parent: run_spare(
                    self.runtime, handoff_fd, report_fd, self.hooks, parent=parent
                )
            )
        )

    def _fork_waiting(self, run: Callable[[int, int, int], None], reuse: int = 1) -> Spare:
        """Forks a child that waits for its rows on a handoff pipe and reports on another.

        `run(handoff_fd, report_fd, parent_pid)` is the child's whole life; it never returns
        (os._exit ends the child, so nothing of the parent's stack runs twice).
        """
        handoff_read, handoff_write = os.pipe()
        report_read, report_write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the waiting child: never returns
            try:
                os.close(handoff_write)
                os.close(report_read)
                self._drop_spare_ends()  # other spares' pipes are not this child's business
                run(handoff_read, report_write, parent)
            finally:
                os._exit(70)
        os.close(handoff_read)
        os.close(report_write)
        # Both sides set the process group, so it is in place whichever runs first.
        with suppress(OSError):
            os.setpgid(pid, pid)
        return Spare(pid, handoff_write, report_read, time.monotonic(), reuse)

    def _retire(self, spare: Spare) -> None:
        """Tells a waiting spare to exit (EOF on its pipe); it is reaped like any child."""
        if spare in self.spares:
            self.spares.remove(spare)
        for fd in (spare.handoff_fd, spare.read_fd):
            with suppress(OSError):
                os.close(fd)
        self.retired.add(spare.pid)

    def _retire_all_spares(self) -> None:
        for spare in list(self.spares):
            self._retire(spare)

    def _reap_retired(self) -> None:
        """At the end: wait for the retired spares, which exit as soon as they read EOF."""
        for pid in list(self.retired):
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.retired.discard(pid)
