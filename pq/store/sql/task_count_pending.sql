-- Counts pending tasks (due or not). Params: none. Index: pq_tasks_claim_idx. Locks: none.
SELECT count(*) AS n FROM {schema}.pq_tasks WHERE status = 'pending'
