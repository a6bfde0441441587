-- Writes the first rows of a workflow (a chain's first step, a group's or chord's members)
-- with COPY, ids reserved by flow_reserve.sql. Params: none (COPY ... FROM STDIN).
-- Locks: the new rows only. COPY sends no NOTIFY: the caller runs flow_notify.sql after.
COPY {schema}.pq_tasks (id, name, queue, priority, status, args, kwargs, options, run_at,
                        max_attempts, workflow_id, workflow_step, flow, rate_key,
                        concurrency_key, concurrency_limit)
FROM STDIN
