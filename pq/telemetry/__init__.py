"""Telemetry: what a worker tells the outside world about its work, besides the database.

    logs.py     --log-format json: one JSON object per line, with the task's fields
    metrics.py  the worker's Prometheus counters and histograms (the `metrics` extra)
    gauges.py   `pq metrics APP`: queue-level gauges read from the database
    tracing.py  W3C trace context stored at enqueue, a consumer span in the child (`otel`)

A leaf package: the worker and the producer call into it, it imports neither of them, and
every optional dependency is imported only when its feature is switched on.
"""
