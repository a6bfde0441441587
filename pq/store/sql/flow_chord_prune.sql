-- Retention: deletes one small batch of barriers (pq_chords rows) created before a time that
-- nothing will update again: fired ones (their callback has been written; flow_finish.sql
-- never touches a fired row again), those of a cancelled workflow (flow_cancel.sql took
-- the links out of every member that had not completed, so none can add to them), and those
-- of a workflow with no row left but completed ones (a member failed for good and its row
-- has since been pruned at the failed keep time, or every row is gone): no row is left that
-- could still run, or be retried by an operator, and add to it. Other unfired rows stay:
-- their chord may still complete, also after an operator retries a failed member.
-- Params: keep (seconds, on the database's clock), limit.
-- Index: none for pq_chords (one row per chord, and fired ones go in these batches);
--   pq_tasks_workflow_idx for the cancel mark of an old unfired one's workflow (its id is the
--   callback's workflow_id, or the row's own id for a chord started before nesting).
-- Locks: the deleted rows only (SKIP LOCKED: a worker firing one is not waited for).
WITH doomed AS (
    SELECT id
    FROM {schema}.pq_chords
    WHERE created_at < now() - make_interval(secs => %(keep)s)
      AND (fired
           OR EXISTS (
               SELECT FROM {schema}.pq_tasks AS t
               WHERE t.workflow_id
                     = COALESCE((pq_chords.callback->>'workflow_id')::bigint, pq_chords.id)
                 AND t.flow ? 'cancelled')
           OR NOT EXISTS (
               SELECT FROM {schema}.pq_tasks AS t
               WHERE t.workflow_id
                     = COALESCE((pq_chords.callback->>'workflow_id')::bigint, pq_chords.id)
                 AND t.status <> 'completed'))
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM {schema}.pq_chords AS c
    USING doomed
    WHERE c.id = doomed.id
    RETURNING 1
)
SELECT count(*) AS n FROM deleted
