-- Cancels a workflow (a chain, group or chord, nested or not), one pass of several: every row
-- of it not yet finished is cancelled as task_cancel.sql cancels one task (the same SET,
-- pinned by tests/unit/test_flow_sql.py: pending and waiting rows end 'cancelled' at once, a
-- running row gets cancel_requested_at and its worker a 'c:<id>' NOTIFY), and every row of it
-- that has not completed gets the flow {"cancelled": true} instead of its links.
-- Why the flow: flow_finish.sql writes a step's links from the flow of the row it records,
--   read after it has locked that row, so a step that ends after this pass commits (a running
--   one that completes anyway, or a failed one an operator retries) starts nothing and adds
--   nothing to a barrier. The handles read the mark to report the workflow cancelled.
-- Why passes: a step that ended just before this pass wrote its links in its own statement,
--   committed after this pass's snapshot: they are not seen here. `seen` counts the rows
--   still to stop in this pass's snapshot; the caller (EnqueueMixin.cancel_workflow) runs passes,
--   each with a new snapshot, until one sees none. Then no unmarked row was running, so no
--   later commit can write a link of this workflow.
-- Params: workflow_id, channel. Index: pq_tasks_workflow_idx.
-- Locks: the rows it changes, in id order, SKIP LOCKED: a row that a worker is recording
--   (flow_finish.sql, which locks its batch in no set order) or claiming is left for the next
--   pass, so a pass never waits on a worker and can never deadlock with one.
WITH open AS (  -- the snapshot of this pass, without locks: what is still to stop
    SELECT id FROM {schema}.pq_tasks
    WHERE workflow_id = %(workflow_id)s AND status IN ('pending', 'waiting', 'running')
      AND NOT COALESCE(flow ? 'cancelled', false)
),
target AS (
    SELECT id, status FROM {schema}.pq_tasks
    WHERE workflow_id = %(workflow_id)s AND status IN ('pending', 'waiting', 'running')
      AND NOT COALESCE(flow ? 'cancelled', false)
    ORDER BY id
    FOR UPDATE SKIP LOCKED
),
ended AS (  -- failed or cancelled already: they keep their status and lose their links
    SELECT id FROM {schema}.pq_tasks
    WHERE workflow_id = %(workflow_id)s AND status IN ('failed', 'cancelled')
      AND NOT COALESCE(flow ? 'cancelled', false)
      AND EXISTS (SELECT FROM open)  -- a workflow that had already ended is left as it was
    ORDER BY id
    FOR UPDATE SKIP LOCKED
),
changed AS (
    UPDATE {schema}.pq_tasks AS t
    SET status      = CASE WHEN target.status <> 'running' THEN 'cancelled' ELSE t.status END,
        outcome     = CASE WHEN target.status <> 'running' THEN 'cancelled' ELSE t.outcome END,
        finished_at = CASE WHEN target.status <> 'running' THEN now() ELSE t.finished_at END,
        parked      = NULL,
        cancel_requested_at = CASE WHEN target.status = 'running' THEN now() ELSE NULL END,
        flow        = '{"cancelled": true}'::jsonb
    FROM target
    WHERE t.id = target.id
    RETURNING t.id, CASE WHEN target.status = 'running' THEN 'running' ELSE 'pending' END AS previous
),
marked AS (
    UPDATE {schema}.pq_tasks AS t
    SET flow = '{"cancelled": true}'::jsonb
    FROM ended
    WHERE t.id = ended.id
    RETURNING t.id
)
SELECT c.id, c.previous,
       CASE WHEN c.previous = 'running' THEN pg_notify(%(channel)s, 'c:' || c.id::text)::text END
           AS notified,
       (SELECT count(*) FROM open) AS seen
FROM changed AS c
UNION ALL
SELECT NULL, NULL, NULL, (SELECT count(*) FROM open)
WHERE NOT EXISTS (SELECT FROM changed)
