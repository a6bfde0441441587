"""`pq metrics APP`: the queue-level gauges of a deployment, read from the database.

One exporter per deployment (not per worker): each scrape runs the operator library's two
summary reads (`queue_stats`, `list_workers`) and turns them into gauges. Counters and
histograms of the work itself come from each worker's own `--metrics-port`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol

from pq.telemetry.metrics import _prometheus

log = logging.getLogger("pq.metrics")


class QueueSource(Protocol):
    """What the collector reads (`PQ` satisfies it)."""

    def queue_stats(self) -> list[Any]: ...
    def list_workers(self, *, include_stopped_since: Any = ...) -> list[Any]: ...


class QueueCollector:
    """A prometheus_client collector: every scrape reads the database once."""

    def __init__(self, source: QueueSource) -> None:
        self.source = source
        _prometheus()  # the extra's clear error when it is missing
        import prometheus_client.core

        self.core = prometheus_client.core

    def describe(self) -> list[Any]:
        return []  # not known before the first read: the registry must not call collect()

    def collect(self) -> Iterator[Any]:
        core = self.core
        up = core.GaugeMetricFamily(
            "pq_database_up", "1 when the last scrape could read pq's tables, else 0."
        )
        try:
            stats = self.source.queue_stats()
            workers = self.source.list_workers(include_stopped_since=None)
        except Exception as exc:  # a scrape reports the outage instead of failing
            log.warning("cannot read the queue gauges: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._queue_families(core, stats)
        alive = core.GaugeMetricFamily(
            "pq_workers", "Registered workers by state (alive, lost).", labels=["state"]
        )
        for state in ("alive", "lost"):
            alive.add_metric([state], sum(1 for w in workers if str(w.state) == state))
        yield alive

    @staticmethod
    def _queue_families(core: Any, stats: list[Any]) -> Iterator[Any]:
        labels = ["queue", "priority"]
        tasks = core.GaugeMetricFamily(
            "pq_queue_tasks",
            "Tasks per queue and priority by state: due (pending, may run now), scheduled "
            "(pending, due later), running.",
            labels=[*labels, "state"],
        )
        oldest = core.GaugeMetricFamily(
            "pq_queue_oldest_due_age_seconds",
            "How long the oldest due task of the queue and priority has waited (0: none).",
            labels=labels,
        )
        paused = core.GaugeMetricFamily(
            "pq_queue_paused", "1 when the queue is paused for the whole fleet.", labels=["queue"]
        )
        seen: set[str] = set()
        for s in stats:
            key = [s.queue, str(s.priority)]
            for state in ("due", "scheduled", "running"):
                tasks.add_metric([*key, state], getattr(s, state))
            oldest.add_metric(key, s.oldest_due_age or 0.0)
            if s.queue not in seen:
                seen.add(s.queue)
                paused.add_metric([s.queue], 1 if s.paused else 0)
        yield from (tasks, oldest, paused)


def serve_queue_metrics(source: QueueSource, host: str, port: int) -> Any:
    """A WSGI server (not yet serving) whose /metrics page runs the collector."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    prom = _prometheus()
    registry = prom.CollectorRegistry()
    registry.register(QueueCollector(source))

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return make_server(host, port, prom.make_wsgi_app(registry), handler_class=Quiet)
