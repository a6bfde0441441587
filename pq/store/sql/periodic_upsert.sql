-- Creates or replaces one schedule through the API (`app.schedule(...)`), including whether
-- it is active: schedule(..., active=False) pauses it, active=True resumes it.
-- Params: name, key, args (json text), kwargs (json text), every_seconds, cron, timezone,
--         max_concurrent, active, priority, queue, options (json text), first_run (next_run of
--         a new schedule or a changed timing), resume_run (next_run when resuming a paused
--         schedule whose next_run has passed: ticks missed while paused are dropped).
--         channel (workers are told 'p:' on commit, so they look at the schedules at once).
-- next_run is otherwise kept as it is, so calling schedule() again at every start of the
-- application neither resets the phase nor fires an extra tick. The row becomes API-managed
-- (declared_in_code false) until a worker finds it declared in code again.
-- Index: the unique constraint pq_periodic_name_key. Locks: the one row (insert or update).
INSERT INTO {schema}.pq_periodic AS p
    (name, key, args, kwargs, every_seconds, cron, timezone, max_concurrent, active,
     priority, queue, options, declared_in_code, next_run)
VALUES
    (%(name)s, %(key)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(every_seconds)s, %(cron)s,
     %(timezone)s, %(max_concurrent)s, %(active)s, %(priority)s, %(queue)s,
     %(options)s::jsonb, false, %(first_run)s)
ON CONFLICT (name, key) DO UPDATE
SET args = EXCLUDED.args,
    kwargs = EXCLUDED.kwargs,
    every_seconds = EXCLUDED.every_seconds,
    cron = EXCLUDED.cron,
    timezone = EXCLUDED.timezone,
    max_concurrent = EXCLUDED.max_concurrent,
    active = EXCLUDED.active,
    priority = EXCLUDED.priority,
    queue = EXCLUDED.queue,
    options = EXCLUDED.options,
    declared_in_code = false,
    orphaned_at = NULL,
    next_run = CASE
        WHEN p.every_seconds IS DISTINCT FROM EXCLUDED.every_seconds
          OR p.cron IS DISTINCT FROM EXCLUDED.cron
          OR p.timezone <> EXCLUDED.timezone THEN EXCLUDED.next_run
        WHEN EXCLUDED.active AND NOT p.active AND p.next_run <= now()
          THEN %(resume_run)s::timestamptz
        ELSE p.next_run END,
    updated_at = now()
RETURNING p.*, pg_notify(%(channel)s, 'p:') AS notified
