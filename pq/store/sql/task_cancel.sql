-- Cancels one task. A pending (or waiting: held by flow control) row becomes 'cancelled' at once (the row stays for history);
-- a running row gets cancel_requested_at and its worker is told by NOTIFY 'c:<id>' to kill
-- the child and record 'cancelled' (workers also poll for it, in case the notice is missed).
-- Params: id, channel. Index: primary key. Locks: the row (FOR UPDATE), so a concurrent
-- claim either sees the cancel or has already made the row running.
WITH target AS (
    SELECT id, status FROM {schema}.pq_tasks
    WHERE id = %(id)s AND status IN ('pending', 'waiting', 'running')
    FOR UPDATE
),
changed AS (
    UPDATE {schema}.pq_tasks AS t
    SET status      = CASE WHEN target.status <> 'running' THEN 'cancelled' ELSE t.status END,
        outcome     = CASE WHEN target.status <> 'running' THEN 'cancelled' ELSE t.outcome END,
        finished_at = CASE WHEN target.status <> 'running' THEN now() ELSE t.finished_at END,
        parked      = NULL,
        cancel_requested_at = CASE WHEN target.status = 'running' THEN now() ELSE NULL END
    FROM target
    WHERE t.id = target.id
    RETURNING t.id, CASE WHEN target.status = 'running' THEN 'running' ELSE 'pending' END AS previous
)
SELECT id, previous,
       CASE WHEN previous = 'running' THEN pg_notify(%(channel)s, 'c:' || id::text) END AS notified
FROM changed
