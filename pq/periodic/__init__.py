"""Periodic tasks: schedules declared in code, their state in the database, and ticks.

Owns: spec (pure schedule maths: intervals, cron, time zones), function (`@app.periodic` and
the handle it returns), ticks (what a worker runs: syncing declarations, enqueuing due ticks),
api (the schedule calls mixed into `PQ`).

May import: pq.store, pq.producer.task (a periodic function is a task function),
pq.runtime, pq.registry, pq.serialization, pq.models, pq.errors. Never pq.worker or pq.cli;
pq.app only for typing in `api`, which is part of the facade.
"""
