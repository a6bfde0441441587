-- Doctor: live workers of this schema and their summed concurrency (the connection budget).
-- Params: none. Index: none (a small table). Locks: none.
SELECT count(*) AS workers, COALESCE(sum(concurrency), 0) AS slots
FROM {schema}.pq_workers
WHERE stopped_at IS NULL
