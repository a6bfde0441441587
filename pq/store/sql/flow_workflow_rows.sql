-- Some rows of a workflow, whole: a handle waiting on a workflow reads its rows' statuses
-- (flow_workflow_steps.sql) on every wake-up, and whole rows (arguments, result, error) only
-- for the steps that ended since (a completed row never changes again, so it is read once).
-- Params: workflow_id, ids (bigint[]).
-- Index: the primary key (pq_tasks_workflow_idx would do too).
SELECT * FROM {schema}.pq_tasks
WHERE workflow_id = %(workflow_id)s AND id = ANY(%(ids)s::bigint[])
