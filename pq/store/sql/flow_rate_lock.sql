-- Locks one rate limit bucket (creating it on first use) until the flow claim's transaction
-- ends, drops the starts older than the window, and returns the rest with the clock the
-- claim stamps its starts with. clock_timestamp() is read after the lock is granted, so the
-- stamps of successive claimers never go backwards.
-- Params: key, seconds (the window). Index: primary key. Locks: the bucket row (waits for it).
INSERT INTO {schema}.pq_rate_limits AS b (key) VALUES (%(key)s)
ON CONFLICT (key) DO UPDATE
SET starts = ARRAY(SELECT s FROM unnest(b.starts) AS s
                   WHERE s > clock_timestamp() - make_interval(secs => %(seconds)s)
                   ORDER BY s)
RETURNING cardinality(starts) AS used,
          (SELECT min(s) FROM unnest(starts) AS s) AS oldest,
          clock_timestamp() AS now
