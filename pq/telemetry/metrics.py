"""The worker's own Prometheus metrics (`pq worker --metrics-port`, the `metrics` extra).

Everything here is counted from what the worker parent already knows (a child's outcome and
rusage, the time its own statements take), so exposing metrics costs no database work. The
`/metrics` page is served from the parent's selector loop, not from a thread: the parent
forks constantly, and a thread holding a lock at the moment of a fork could leave the child
with a lock nobody will ever release. A scrape is answered in one go (the page is small);
a client that does not send its request within `CLIENT_TIMEOUT` is dropped.

The listening socket is closed in every child right after the fork, so a task that outlives
its worker never keeps the port.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from pq.errors import ConfigurationError

CLIENT_TIMEOUT = 1.0  # seconds a scraper gets to send its request and read the page
EXTRA_HINT = "pip install -e '.[metrics]'"  # 'pq-tasks[metrics]' once released

# seconds: from a millisecond task to the longest batch jobs
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
RSS_BUCKETS = tuple(float(mib * 2**20) for mib in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096))


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigurationError(
            f"Prometheus metrics need the metrics extra: run `{EXTRA_HINT}`"
        ) from None
    return prometheus_client


class NullMetrics:
    """What the worker records into when metrics are off: nothing, at no cost."""

    def task_ended(self, row: dict[str, Any], outcome: str, duration: float, rss: int) -> None:
        pass

    def timed(self, what: str, seconds: float) -> None:
        pass

    def heartbeat_ok(self) -> None:
        pass

    def fileno(self) -> int | None:
        return None

    def serve(self) -> None:
        pass

    def close(self) -> None:
        pass


class WorkerMetrics(NullMetrics):
    """The worker's counters, histograms and gauges, and the socket that serves them."""

    def __init__(self, port: int, host: str, children: Callable[[], int]) -> None:
        prom = _prometheus()
        self.registry = prom.CollectorRegistry()
        self._generate = prom.generate_latest
        self._content_type = prom.CONTENT_TYPE_LATEST
        labels = ("name", "queue")
        r = self.registry
        self.finished = prom.Counter(
            "pq_tasks_finished",
            "Task attempts this worker ended, by task name, queue and outcome.",
            (*labels, "outcome"),
            registry=r,
        )
        self.duration = prom.Histogram(
            "pq_task_duration_seconds",
            "Wall-clock run time of each attempt (fork to exit).",
            labels,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.rss = prom.Histogram(
            "pq_task_peak_rss_bytes",
            "Peak resident memory of each attempt's child.",
            labels,
            buckets=RSS_BUCKETS,
            registry=r,
        )
        self.latency = prom.Histogram(
            "pq_worker_db_seconds",
            "Round trip of the worker's own statements: claim (recording ended attempts "
            "in the same trip) and record.",
            ("statement",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        prom.Gauge(
            "pq_worker_children_running", "Children running a task now.", registry=r
        ).set_function(lambda: float(children()))
        self.last_heartbeat = time.monotonic()
        prom.Gauge(
            "pq_worker_heartbeat_age_seconds",
            "Seconds since this worker's last successful heartbeat.",
            registry=r,
        ).set_function(lambda: time.monotonic() - self.last_heartbeat)
        self.sock = _listen(host, port)
        os.register_at_fork(after_in_child=self._close_in_child)

    def _close_in_child(self) -> None:
        # A child never serves; without this it would keep the port open after the worker.
        with contextlib.suppress(OSError):
            self.sock.close()

    def task_ended(self, row: dict[str, Any], outcome: str, duration: float, rss: int) -> None:
        name, queue = str(row["name"]), str(row["queue"])
        self.finished.labels(name, queue, outcome).inc()
        self.duration.labels(name, queue).observe(duration)
        if rss > 0:
            self.rss.labels(name, queue).observe(rss)

    def timed(self, what: str, seconds: float) -> None:
        self.latency.labels(what).observe(seconds)

    def heartbeat_ok(self) -> None:
        self.last_heartbeat = time.monotonic()

    def fileno(self) -> int | None:
        return self.sock.fileno()

    def serve(self) -> None:
        """Answers every scraper waiting to connect (the selector said the socket is ready)."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            with conn, contextlib.suppress(OSError):
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(CLIENT_TIMEOUT)
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 8192:
            chunk = conn.recv(4096)
            if not chunk:
                break
            request += chunk
        parts = request.split(b" ", 2)
        path = parts[1].split(b"?")[0] if len(parts) > 1 else b""
        if parts[0] != b"GET" or path not in (b"/", b"/metrics"):
            body, status, ctype = b"not found\n", b"404 Not Found", "text/plain"
        else:
            body, status, ctype = self._generate(self.registry), b"200 OK", self._content_type
        head = (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(head + body)

    def close(self) -> None:
        self.sock.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise ConfigurationError(f"--metrics-port {port}: cannot listen on {host}: {exc}") from None
    sock.setblocking(False)
    return sock


def worker_metrics(port: int | None, host: str, children: Callable[[], int]) -> NullMetrics:
    """Metrics for a worker: served on `port`, or a no-op recorder when it is None."""
    return NullMetrics() if port is None else WorkerMetrics(port, host, children)
