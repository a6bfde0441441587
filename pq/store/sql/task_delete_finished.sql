-- Deletes finished tasks of one status that finished before a time (NULL: all of them).
-- Params: status, before. Index: pq_tasks_finished_idx. Locks: the deleted rows.
WITH deleted AS (
    DELETE FROM {schema}.pq_tasks
    WHERE status = %(status)s
      AND (%(before)s::timestamptz IS NULL OR finished_at < %(before)s::timestamptz)
    RETURNING 1
)
SELECT count(*) AS n FROM deleted
