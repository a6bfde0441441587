-- How many rows of one concurrency key are running now (across the fleet), and the clock
-- after the key lock was granted (the started_at of what the claim takes).
-- Params: key. Index: pq_tasks_key_running_idx. Locks: none (the key row is held).
SELECT count(*) AS n, clock_timestamp() AS now FROM {schema}.pq_tasks
WHERE concurrency_key = %(key)s AND status = 'running'
