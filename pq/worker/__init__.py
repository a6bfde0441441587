"""The worker: the parent loop that claims, forks, supervises and records, and the child.

Owns: loop (the parent's loop, assembled from the mixins state <- recording <- supervision
<- upkeep <- flow), child (the only code that runs in a child), attempt (reading a child's
report and shaping its record), outcome (the only interpreter of exit statuses), limits,
wakeup (selector, signals, LISTEN), link (the parent's database session and its outages),
fleet (registration, heartbeats, rescue of lost workers), pauses, herd, ahead (claim-ahead),
rowcheck, standby (spares), handoff, reuse, retention, output. Only supervision, standby and
reuse fork.

May import: pq.store, pq.periodic.ticks (the worker runs the scheduler), pq.runtime,
pq.registry, pq.serialization, pq.retry, pq.models, pq.errors, pq.settings. Never pq.app,
pq.producer's enqueue paths or pool, pq.cli: a worker gets a `pq.runtime.Runtime`, not the app.
"""
