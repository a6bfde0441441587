-- Reads every schedule, for listings. Params: none.
-- Index: none (one row per schedule: a small table). Locks: none.
SELECT * FROM {schema}.pq_periodic ORDER BY name, key
