-- Retention: deletes one small batch of fired barriers (pq_chords rows whose callback has been
-- written; flow_finish.sql never touches a fired row again) created before a time. Unfired
-- rows stay: their chord may still complete, also after an operator retries a failed member.
-- Params: keep (seconds, on the database's clock), limit.
-- Index: none (pq_chords holds one row per chord, and fired ones go in these batches).
-- Locks: the deleted rows only (SKIP LOCKED: a worker firing one is not waited for).
WITH doomed AS (
    SELECT id
    FROM {schema}.pq_chords
    WHERE fired
      AND created_at < now() - make_interval(secs => %(keep)s)
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM {schema}.pq_chords AS c
    USING doomed
    WHERE c.id = doomed.id
    RETURNING 1
)
SELECT count(*) AS n FROM deleted
