-- Bulk-inserts tasks with COPY (fed row by row by Queries.task_copy), ids reserved before by
-- task_reserve_ids.sql. Params: none (COPY ... FROM STDIN). Index: every index of pq_tasks is
-- updated as rows stream in. Locks: the new rows only. COPY sends no NOTIFY: the caller runs
-- task_notify_queues.sql in the same transaction.
COPY {schema}.pq_tasks (id, name, queue, priority, args, kwargs, options, run_at, max_attempts)
FROM STDIN
