"""What operators read and change: task listings, workers, queue statistics, retry, purge,
pause. Shared by the `pq` command, the dashboard and the metrics exporter; `PQ` exposes it
through `OpsMixin` (app.list_tasks, app.queue_stats, app.retry, ...)."""

from pq.ops.models import QueueStats, WorkerInfo, WorkerState

__all__ = ["QueueStats", "WorkerInfo", "WorkerState"]
