"""OpenTelemetry traces (the `otel` extra): a producer span and the W3C trace context stored
in the row at enqueue, a consumer span in the child linked to it.

Nothing here imports OpenTelemetry. Tracing is on in a process exactly when that process has
imported `opentelemetry.trace` (the app configures its tracer provider, or a `--child-init`
function does), so an app that does not trace pays one dictionary lookup per task.

The consumer span starts in the child, after the fork and after `--child-init` ran: a tracer
provider whose exporter runs threads should be built there, since threads do not survive a
fork. The span ends, and the provider is flushed, before the child's `os._exit`. A child
killed by the parent (timeout, memory, cancel) exports no span; the parent's record says why.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from collections.abc import Iterator
from typing import Any

FLUSH_TIMEOUT_MS = 5000
_OTEL = "opentelemetry.trace"


def _trace() -> Any:
    """The opentelemetry.trace module when this process uses it, else None."""
    return sys.modules.get(_OTEL)


@contextlib.contextmanager
def enqueue_span(name: str, queue: str) -> Iterator[Any]:
    """A PRODUCER span around one enqueue (yields None when tracing is off)."""
    trace = _trace()
    if trace is None:
        yield None
        return
    tracer = trace.get_tracer("pq")
    attributes = {
        "messaging.system": "pq",
        "messaging.operation.type": "send",
        "messaging.destination.name": queue,
        "pq.task.name": name,
    }
    with tracer.start_as_current_span(
        f"send {name}", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


def trace_context() -> dict[str, str] | None:
    """The current W3C trace context (traceparent, tracestate) to store in a row."""
    if _trace() is None:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


@contextlib.contextmanager
def consumer_span(row: dict[str, Any]) -> Iterator[Any]:
    """In the child: a CONSUMER span for the attempt, linked to the enqueue's span."""
    trace = _trace()
    if trace is None:
        yield None
        return
    links = []
    stored = (row.get("options") or {}).get("trace")
    if isinstance(stored, dict):  # untrusted: the propagator validates what it reads
        from opentelemetry import propagate

        carrier = {str(k): str(v) for k, v in stored.items()}
        linked = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        if linked.is_valid:
            links.append(trace.Link(linked))
    attributes = {
        "messaging.system": "pq",
        "messaging.operation.type": "process",
        "messaging.destination.name": str(row.get("queue")),
        "pq.task.id": int(row["id"]),
        "pq.task.name": str(row.get("name")),
        "pq.task.attempt": int(row.get("attempts") or 0),
    }
    tracer = trace.get_tracer("pq")
    with tracer.start_as_current_span(
        f"process {row.get('name')}",
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def end_consumer(span: Any, report: dict[str, Any]) -> None:
    """Outcome, peak RSS and (for a failure) the exception, from the child's report."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    outcome = "success" if report.get("ok") else str(report.get("kind"))
    span.set_attribute("pq.task.outcome", outcome)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    span.set_attribute("pq.task.peak_rss_bytes", int(peak_kib) * 1024)
    if report.get("ok"):
        return
    text = str(report.get("error") or "").strip()
    last = text.splitlines()[-1] if text else outcome
    kind, sep, message = last.partition(": ")
    span.add_event(
        "exception",
        {
            "exception.type": kind if sep else outcome,
            "exception.message": message if sep else last,
            "exception.stacktrace": text,
        },
    )
    span.set_status(Status(StatusCode.ERROR, last[:200]))


def flush() -> None:
    """Exports what the child's spans left in their processors before os._exit."""
    trace = _trace()
    if trace is None:
        return
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        with contextlib.suppress(Exception):
            force_flush(FLUSH_TIMEOUT_MS)
