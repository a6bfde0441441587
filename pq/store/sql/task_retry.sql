-- Makes failed or cancelled tasks pending again, due now, keeping their history; each gets
-- one more attempt than it has used (max_attempts is raised when spent). Wakes workers.
-- Params: ids (bigint[] or NULL), statuses (text[]: which ended states to take), name (NULL,
--   exact or the part after ':' or the last '.'), queue (NULL or one), ended_before (rows
--   that ended after the operation started are left alone, so a task that fails again at
--   once is not retried over and over by the same call; NULL: now, the database's clock,
--   which the statement returns for the next batch), limit (the batch), channel.
-- Index: primary key with ids; else pq_tasks_finished_idx (status, finished_at).
-- Locks: at most `limit` rows, FOR UPDATE SKIP LOCKED (a row someone else holds is left for
--   the next batch), so a retry of 100k rows is many short transactions, never one lock.
WITH target AS (
    SELECT id FROM {schema}.pq_tasks
    WHERE status = ANY(%(statuses)s::text[])
      AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]))
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND finished_at <= COALESCE(%(ended_before)s::timestamptz, now())
      AND (%(name)s::text IS NULL OR name = %(name)s::text
           OR name LIKE '%%:' || %(name)s::text OR name LIKE '%%.' || %(name)s::text)
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
changed AS (
    UPDATE {schema}.pq_tasks AS t
    SET status = CASE WHEN t.rate_key IS NULL AND t.concurrency_key IS NULL
                      THEN 'pending' ELSE 'waiting' END,  -- flow control keeps holding it
        run_at = now(),
        finished_at = NULL,
        worker_id = NULL,
        cancel_requested_at = NULL,
        result = NULL,
        max_attempts = GREATEST(t.max_attempts, t.attempts + 1)
    FROM target
    WHERE t.id = target.id
    RETURNING t.id, t.queue, t.status
),
queues AS (
    SELECT DISTINCT CASE status WHEN 'waiting' THEN 'w:' ELSE 't:' END || queue AS queue
    FROM changed
)
SELECT (SELECT array_agg(id ORDER BY id) FROM changed) AS ids, now() AS now,
       (SELECT count(pg_notify(%(channel)s, queue)) FROM queues) AS notified
