"""The app `pq worker` runs in the end-to-end tests: PQ() takes PQ_DATABASE_URL."""

from __future__ import annotations

from pq import PQ
from taskmods import reliability

app = PQ()

# max_runtime is an hour: rescue after a lost worker must not wait for it (only the lease counts)
slow = app.task(reliability.parent_pid_after, name="slow", retries=1, backoff=0, max_runtime=3600)
slow_no_retry = app.task(reliability.parent_pid_after, name="slow_no_retry")
side_effect = app.task(reliability.count_side_effect, name="side_effect")
side_effect_retried = app.task(
    reliability.count_side_effect, name="side_effect_retried", retries=5, backoff=0.05
)
