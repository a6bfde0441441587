-- Writes one schedule declared in code (`@app.periodic`) when a worker starts.
-- Params: name, key, args (json text), kwargs (json text), every_seconds, cron, timezone,
--         max_concurrent, active, priority, queue, options (json text), first_run.
-- The definition comes from the code; the runtime state stays the database's: `active` is
-- only the initial state of a new row (so a restart never undoes a pause), and next_run is
-- kept unless the timing itself changed. Declaring clears orphaned_at.
-- Index: the unique constraint pq_periodic_name_key. Locks: the one row (insert or update).
INSERT INTO {schema}.pq_periodic AS p
    (name, key, args, kwargs, every_seconds, cron, timezone, max_concurrent, active,
     priority, queue, options, declared_in_code, next_run)
VALUES
    (%(name)s, %(key)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(every_seconds)s, %(cron)s,
     %(timezone)s, %(max_concurrent)s, %(active)s, %(priority)s, %(queue)s,
     %(options)s::jsonb, true, %(first_run)s)
ON CONFLICT (name, key) DO UPDATE
SET args = EXCLUDED.args,
    kwargs = EXCLUDED.kwargs,
    every_seconds = EXCLUDED.every_seconds,
    cron = EXCLUDED.cron,
    timezone = EXCLUDED.timezone,
    max_concurrent = EXCLUDED.max_concurrent,
    priority = EXCLUDED.priority,
    queue = EXCLUDED.queue,
    options = EXCLUDED.options,
    declared_in_code = true,
    orphaned_at = NULL,
    next_run = CASE
        WHEN p.every_seconds IS DISTINCT FROM EXCLUDED.every_seconds
          OR p.cron IS DISTINCT FROM EXCLUDED.cron
          OR p.timezone <> EXCLUDED.timezone THEN EXCLUDED.next_run
        ELSE p.next_run END,
    updated_at = now()
RETURNING *
