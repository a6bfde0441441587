-- Pauses or resumes one schedule, keeping everything else.
-- Params: name, key, active, resume_run (the next_run to use when resuming a schedule whose
--         next_run has passed: ticks missed while paused are dropped, not caught up),
--         channel (workers are told 'p:' on commit, so a resumed schedule is seen at once).
-- Index: the unique constraint pq_periodic_name_key. Locks: the row.
UPDATE {schema}.pq_periodic
SET active = %(active)s,
    next_run = CASE WHEN %(active)s AND NOT active AND next_run <= now()
                    THEN %(resume_run)s::timestamptz ELSE next_run END,
    updated_at = now()
WHERE name = %(name)s AND key = %(key)s
RETURNING *, pg_notify(%(channel)s, 'p:') AS notified
