-- Says "someone here waits for task ends": a session that LISTENs on the done channel holds
-- these shared advisory locks (one per slot) for as long as it stays connected, taken after
-- its LISTEN and before it reads any row it waits on. task_finish.sql sends the done NOTIFY
-- only when its try of one slot's exclusive lock fails, because every NOTIFY wakes every
-- listening session of the database (each worker's too) whatever its channel. A finish that
-- got the lock holds it to its commit, so a wait starting meanwhile blocks here until the
-- row it is about to read is committed. Params: done_key (integer, per schema).
-- Locks: session-level shared advisory locks (done_key, 0..7); needs a direct (not pooled)
--   connection, as LISTEN does.
SELECT count(pg_advisory_lock_shared(%(done_key)s::integer, s)) AS slots
FROM generate_series(0, 7) AS s
