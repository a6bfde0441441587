-- Says "someone here waits for task ends": a session that LISTENs on the done channel holds
-- these shared advisory locks (all 16 slots) for as long as it stays connected, taken after
-- its LISTEN and before it reads any row it waits on. task_finish.sql takes the first free
-- slot exclusively to its commit and sends the done NOTIFY only when it finds none free,
-- because every NOTIFY wakes every listening session of the database (each worker's too)
-- whatever its channel. A wait starting meanwhile blocks here on the finish's slot until the
-- row it is about to read is committed. Params: done_key (integer, per schema).
-- Locks: session-level shared advisory locks (done_key, 0..15); needs a direct (not pooled)
--   connection, as LISTEN does.
SELECT count(pg_advisory_lock_shared(%(done_key)s::integer, s)) AS slots
FROM generate_series(0, 15) AS s
