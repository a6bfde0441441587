-- Adds `n` starts at `at` to a rate limit bucket locked by flow_rate_lock.sql.
-- Params: key, n, at. Index: primary key. Locks: the bucket row (already held).
UPDATE {schema}.pq_rate_limits
SET starts = starts || array_fill(%(at)s::timestamptz, ARRAY[%(n)s::integer])
WHERE key = %(key)s
