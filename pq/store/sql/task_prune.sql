-- Retention: deletes one small batch of finished tasks of one status that finished before a
-- time. Workers run it in turns without a leader: SKIP LOCKED hands each batch to one of
-- them, and a batch is small so its row locks are short.
-- Params: status ('completed', 'failed' or 'cancelled'), keep (seconds, on the database's
--         clock), limit.
-- Index: pq_tasks_finished_idx (status, finished_at), oldest first.
-- Locks: the deleted rows only.
WITH doomed AS (
    SELECT id
    FROM {schema}.pq_tasks
    WHERE status = %(status)s
      AND finished_at < now() - make_interval(secs => %(keep)s)
    ORDER BY finished_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM {schema}.pq_tasks AS t
    USING doomed
    WHERE t.id = doomed.id
    RETURNING 1
)
SELECT count(*) AS n FROM deleted
