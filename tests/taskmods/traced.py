"""An app traced with the OpenTelemetry SDK's in-memory exporter, for test_tracing.

The producer side runs in its own process (`python -m taskmods.traced`) and prints its
finished spans as JSON; the worker's children set up their provider in `child_init` (after
the fork) and dump their spans to $PQ_TEST_SPAN_DIR when pq flushes before the child exits.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pq import PQ
from taskmods import funcs

app = PQ()
add = app.task(funcs.add)
fail = app.task(funcs.fail)


def as_dict(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "links": [
            {
                "trace_id": format(x.context.trace_id, "032x"),
                "span_id": format(x.context.span_id, "016x"),
            }
            for x in span.links
        ],
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, **dict(e.attributes or {})} for e in span.events],
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


class DumpOnFlush(SpanProcessor):
    """Writes the in-memory exporter's spans to a file when pq flushes the provider."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        spans = [as_dict(s) for s in self.exporter.get_finished_spans()]
        path = os.path.join(os.environ["PQ_TEST_SPAN_DIR"], f"{os.getpid()}.json")
        with open(path, "w") as out:
            json.dump(spans, out)
        return True


def in_memory_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def child_init() -> None:
    provider, exporter = in_memory_provider()
    provider.add_span_processor(DumpOnFlush(exporter))
    trace.set_tracer_provider(provider)


def main() -> None:
    provider, exporter = in_memory_provider()
    trace.set_tracer_provider(provider)
    with trace.get_tracer("test").start_as_current_span("handle request"):
        ids = {"good": add.delay(2, 3).id, "bad": fail.delay("traced failure").id}
    app.close()
    json.dump(
        {"ids": ids, "spans": [as_dict(s) for s in exporter.get_finished_spans()]}, sys.stdout
    )


if __name__ == "__main__":
    main()
