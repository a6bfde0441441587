"""Producing tasks: the `@app.task` function and its handle, bulk COPY, upsert, and reading
results back.

Owns: task (TaskFunction, TaskHandle, TaskOptions), bulk (map / enqueue_many through COPY),
upsert (debounce by client_id), reading (get, list, clear, wait for an end; mixed into `PQ`).

May import: pq.store, pq.registry, pq.serialization, pq.retry, pq.models, pq.errors,
pq.settings. Never pq.worker, pq.periodic or pq.cli.
"""
