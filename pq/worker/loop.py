"""The worker parent: claim, fork, supervise, record, heartbeat, drain.

The parent never runs task code. It holds two connections (work and LISTEN) whatever its
concurrency, claims its free slots plus a few rows ahead in one statement (ahead.py), forks
one child per row, learns how each child ended from os.wait4 and the child's report pipe, and
records the ended attempts of a loop turn or a few in one statement fenced by (id, attempt,
worker id, running).
This module is the loop; its duties live in the mixins below `Worker` (see pq/worker/state.py).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import set_json_loads

from pq.periodic.ticks import sync_declared
from pq.serialization import tolerant_json_loads
from pq.settings import WorkerSettings, build_worker_settings
from pq.store import pooler
from pq.store.db import PsycopgExecutor, connect
from pq.store.migrate import check_schema_current
from pq.store.staging import has_raw
from pq.worker.attempt import Child
from pq.worker.fleet import start_line
from pq.worker.link import (
    DATA_ERRORS,
    LOCK_TIMEOUT_MS,
    WORKER_CONNECTION_OPTIONS,
    DatabaseLink,
    statement_timeout,
)
from pq.worker.listening import Listening, SlotTag
from pq.worker.outcome import KillReason
from pq.worker.stall import Guard, GuardedConnection, guarding
from pq.worker.state import Hooks
from pq.worker.wakeup import SignalPipe, Waiter

if TYPE_CHECKING:
    from pq.runtime import Runtime

log = logging.getLogger("pq.worker")

_METRICS = "metrics"  # the selector's tag of the metrics socket

__all__ = ["Hooks", "Worker", "build_worker_settings", "run"]  # callers import these from here


def run(
    runtime: Runtime,
    settings: WorkerSettings,
    hooks: Hooks,
    *,
    max_tasks: int | None = None,
    upgrade_hint: str = "pq migrate APP",
) -> int:
    """Runs a worker until stopped; returns how many tasks it processed."""
    return Worker(runtime, settings, hooks, max_tasks=max_tasks, upgrade_hint=upgrade_hint).run()


class Worker(Listening):
    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> int:
        self._attach()
        self._start_fork_server()  # before any connection of the worker exists
        try:
            self._open()
        except BaseException:
            self._stop_fork_server()
            raise
        try:
            self._loop()
        finally:
            self._close()
        return self.processed

    def _attach(self) -> None:
        """Builds the signal pipe and the database link, which take this object's own bound
        methods (so they are made here, once the whole class exists, not in WorkerState)."""
        self.signals = SignalPipe(self._on_stop_signal)
        # Every wait of the worker's connections supervises and gives up (pq/worker/stall.py).
        self.guard = Guard(self._supervise_waiting, self._call_patience)
        listen = None if self.settings.poll_only else self._listener_connected
        self.link = DatabaseLink(
            self._connect, listen, self.waiter, connect_listener=self._connect_listener
        )
        self.link.may_listen = self._may_listen

    def _open(self) -> None:
        self.link.open()
        check_schema_current(self.link.executor(), self.queries, upgrade_hint=self.upgrade_hint)
        sync_declared(
            self.runtime, self.link.executor().conn, datetime.now(UTC)
        )  # code's schedules
        self.worker_id = self._register(self.link.executor())
        if not self.link.listening:
            why = (
                "--poll-only"
                if self.settings.poll_only
                else "behind a connection pooler, " + pooler.source(self.runtime.database_url())
            )
            log.info(
                "no LISTEN (%s): polling every %gs; give a direct database URL with "
                "--listen-url / PQ_LISTEN_URL for pick-up in milliseconds",
                why,
                self.settings.poll_interval,
            )
        self.signals.install()
        self.waiter.watch(self.signals.read_fd, Waiter.SIGNALS)
        metrics_fd = self.metrics.fileno()
        if metrics_fd is not None:
            self.waiter.watch(metrics_fd, _METRICS)
        log.info("%s", start_line(self.worker_id, self.settings, self.runtime.database_url()))

    def _guarded_connect(self, url: str) -> psycopg.Connection[Any]:
        with guarding(self.guard):
            return connect(url, connection_class=GuardedConnection, **WORKER_CONNECTION_OPTIONS)

    def _connect(self) -> psycopg.Connection[Any]:
        conn = self._guarded_connect(self.runtime.database_url())
        # A row's JSON too deep to parse must fail that task, not the claim of every row.
        set_json_loads(tolerant_json_loads, conn)
        # SETs, not startup options, which PgBouncer refuses (behind one in transaction mode
        # they may not stick: the client-side patience of stall.py still bounds every wait).
        conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        timeout_ms = int(statement_timeout(self.settings.lease) * 1000)
        conn.execute(f"SET statement_timeout = {timeout_ms}")
        # The worker's statements are short and read short index ranges: JIT never pays off
        # for them, and a claim whose row estimates are off (a recursive CTE's are) can pass
        # jit_above_cost and spend 0.5 s+ compiling a plan that runs in a millisecond.
        conn.execute("SET jit = off")
        return conn

    def _listen_url(self) -> str | None:
        return self.settings.listen_url or self.runtime.listen_url()

    def _connect_listener(self) -> psycopg.Connection[Any]:
        return self._guarded_connect(self._listen_url() or self.runtime.database_url())

    def _may_listen(self) -> bool:
        """LISTEN unless the work URL goes through a pooler and no direct URL is given."""
        return bool(self._listen_url() or not pooler.is_pooled(self.runtime.database_url()))

    def _close(self) -> None:
        if self.children:  # only on an unexpected error: do not leave orphans running
            for child in self.children.values():
                self._kill(child, KillReason.SHUTDOWN)
            while self.children:
                self._reap(block=True)
        self._close_slot()  # another idle worker listens from now on
        self._release_held()
        self._retire_all_spares()
        self._reap_retired()
        self._stop_fork_server()  # (its children were all reaped above)
        self._flush()
        if self.finished:
            log.error(
                "stopping with %d finished attempt(s) unrecorded (database unreachable); "
                "another worker will rescue them as lost",
                len(self.finished),
            )
        self.signals.restore()
        if self.link.up:
            self.link.call("deregistering", self._deregister)
        self.link.close()
        self.waiter.close()
        self.metrics.close()
        log.info("worker %s stopped after %d tasks", self.worker_id, self.processed)

    def _deregister(self, ex: PsycopgExecutor) -> None:
        self.queries.worker_deregister(ex, self.worker_id)

    def _on_stop_signal(self, signum: int) -> None:
        # Runs between bytecodes of the loop: only set flags here, the loop acts on them.
        if self.stopping:
            self.kill_now = True
        else:
            self.stopping = True
            self.stop_deadline = time.monotonic() + self.settings.drain_timeout

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._reap()
            self._enforce_deadlines()
            self._enforce_lease()
            self._reconnect_if_due()
            self._announce_stop()
            self._heartbeat_if_due()  # here, so a worker that never idles still heartbeats
            self._refresh_pauses()
            self._rescue_if_due()
            self._prune_if_due()
            self._run_due_ticks()
            if self.stopping:
                self._release_held()
                self._retire_all_spares()
            self._start_held()
            if self._lease_left() > 0:  # (out of lease: do not start anything new)
                self._flow_claim_if_due()  # rate- and key-limited tasks (pq/worker/flow.py)
            self._tend_listener()  # LISTEN or not (pq/worker/listening.py)
            if self._may_claim():
                self._claim_and_fork()  # also records the attempts that ended: one commit
                continue  # re-check before sleeping: an empty claim may have ended a burst
            if self._flush_due():
                self._flush()
            if self._done():
                return
            self._replenish_spares()
            self._sleep()

    def _done(self) -> bool:
        if self.children or self.held:
            return False
        if self.finished:
            # Unrecorded attempts wait for the database, but a stop does not wait forever.
            return self.kill_now or (self.stopping and time.monotonic() >= self.stop_deadline)
        if self.stopping:
            return True
        if self.max_tasks is not None and self.processed >= self.max_tasks:
            return True
        return (
            self.settings.burst
            and not self.maybe_work
            and not self.flow_due
            and not self.flow_waiting
            and not self._awaiting_retries()
        )

    def _may_claim(self) -> bool:
        if self.stopping or self._claim_limit() <= 0 or not self.link.up:
            return False
        if self._lease_left() <= 0:  # a heartbeat must renew it first (see _enforce_lease)
            return False
        if not self.queues:  # every queue of this worker is paused
            self.maybe_work = False
            return False
        now = time.monotonic()
        if self.damper.due(now):  # deferred notices (see pq/worker/herd.py)
            self.maybe_work = True
        return self.maybe_work or now >= self.next_poll

    def _claim_and_fork(self) -> None:
        if has_raw(self.finished):  # a large result goes on its own (pq/store/staging.py)
            self._flush()
            if self.finished:
                return  # not written yet (outage, lock wait): claim on a later turn
        limit = self._claim_limit()
        look = self._flow_look_due()  # and are waiting rows due? (pq/worker/flow.py)
        began = time.perf_counter()
        try:
            result = self.link.call(
                "recording and claiming tasks",
                lambda ex: self.queries.task_finish_and_claim(
                    ex,
                    self.finished,
                    worker_id=self.worker_id,
                    limit=limit,
                    queues=self.queues,
                    priorities=self.priorities,
                    look_waiting=look,
                ),
                raise_data_errors=True,
            )
        except DATA_ERRORS:  # a record the database refuses: isolate it, claim next turn
            changed = self._record_one_by_one()
            if changed is not None:
                self._recorded(changed)
            return
        if result is None:
            return  # the connection broke; a claim that committed anyway is released later
        changed, rows, waiting = result
        if look:
            self._flow_looked(waiting)
        self.metrics.timed("claim", time.perf_counter() - began)
        self._recorded(changed)
        self.next_poll = time.monotonic() + self.settings.poll_interval
        self.maybe_work = len(rows) == limit  # a full batch: there may be more waiting
        self.damper.claimed(time.monotonic(), len(rows))
        self.held.extend(rows)
        self._start_held()  # into the free slots; the rest wait for slots to free up

    def _sleep(self) -> None:
        now = time.monotonic()
        wake_at = [self.next_poll, self.next_heartbeat, self.scheduler.next_check]
        wake_at += self.awaited_retries.values()
        wake_at += self._flush_wake()
        wake_at += self._spare_wake()
        wake_at += self._flow_wake_at()
        wake_at += [c.deadline for c in self.children.values() if c.deadline and not c.killed_for]
        if self.stopping:
            wake_at.append(self.stop_deadline)
        if self.children and (lease_left := self._lease_left()) > 0:
            wake_at.append(now + lease_left)
        wake_at += self._notice_wake_at()
        if not self.link.complete:
            wake_at.append(self.link.next_attempt)
        for tag in self.waiter.wait(min(wake_at) - now):
            if tag == Waiter.SIGNALS:
                self.signals.drain()
            elif tag == Waiter.LISTENER:
                self._on_notifications()
            elif isinstance(tag, Child):
                self._read_report(tag)
            elif tag == _METRICS:
                self.metrics.serve()
            elif isinstance(tag, SlotTag):
                self._on_slot_event(tag)
