-- Inserts a task by client_id, or replaces the existing row with that client_id (debounce).
-- A pending or finished row is overwritten and reset to pending (fresh attempts, no result).
-- A running row keeps running untouched: the new version is parked on it (replacing any
-- version parked before) and task_finish.sql promotes it when the current attempt ends, so
-- one client_id never runs twice at the same time.
-- Params: name, queue, priority, args (json text), kwargs (json text), options (json text),
--         client_id (not null), run_at (nullable: now), max_attempts, channel.
-- Index: the unique client_id index (ON CONFLICT target).
-- Locks: ON CONFLICT takes the existing row's lock, so this waits for a claim or a finish in
--        progress on the row and then sees its committed status.
WITH upserted AS (
    INSERT INTO {schema}.pq_tasks AS t
        (name, queue, priority, args, kwargs, options, client_id, run_at, max_attempts)
    VALUES
        (%(name)s, %(queue)s, %(priority)s, %(args)s::jsonb, %(kwargs)s::jsonb,
         %(options)s::jsonb, %(client_id)s, COALESCE(%(run_at)s::timestamptz, now()),
         %(max_attempts)s)
    ON CONFLICT (client_id) DO UPDATE SET
        parked = CASE WHEN t.status = 'running' THEN jsonb_build_object(
                     'name', excluded.name, 'queue', excluded.queue,
                     'priority', excluded.priority, 'args', excluded.args,
                     'kwargs', excluded.kwargs, 'options', excluded.options,
                     'max_attempts', excluded.max_attempts,
                     'run_at', %(run_at)s::timestamptz)
                 ELSE NULL END,
        name         = CASE WHEN t.status = 'running' THEN t.name ELSE excluded.name END,
        queue        = CASE WHEN t.status = 'running' THEN t.queue ELSE excluded.queue END,
        priority     = CASE WHEN t.status = 'running' THEN t.priority ELSE excluded.priority END,
        args         = CASE WHEN t.status = 'running' THEN t.args ELSE excluded.args END,
        kwargs       = CASE WHEN t.status = 'running' THEN t.kwargs ELSE excluded.kwargs END,
        options      = CASE WHEN t.status = 'running' THEN t.options ELSE excluded.options END,
        run_at       = CASE WHEN t.status = 'running' THEN t.run_at ELSE excluded.run_at END,
        max_attempts = CASE WHEN t.status = 'running' THEN t.max_attempts
                            ELSE excluded.max_attempts END,
        status       = CASE WHEN t.status = 'running' THEN t.status ELSE 'pending' END,
        attempts     = CASE WHEN t.status = 'running' THEN t.attempts ELSE 0 END,
        started_at   = CASE WHEN t.status = 'running' THEN t.started_at ELSE NULL END,
        finished_at  = CASE WHEN t.status = 'running' THEN t.finished_at ELSE NULL END,
        result       = CASE WHEN t.status = 'running' THEN t.result ELSE NULL END,
        error        = CASE WHEN t.status = 'running' THEN t.error ELSE NULL END,
        outcome      = CASE WHEN t.status = 'running' THEN t.outcome ELSE NULL END,
        cancel_requested_at = CASE WHEN t.status = 'running' THEN t.cancel_requested_at
                                   ELSE NULL END
    RETURNING t.id, t.status, t.queue, t.run_at, (t.parked IS NOT NULL) AS parked
)
SELECT id, status, parked,
       CASE WHEN status = 'pending' AND run_at <= now()
            THEN pg_notify(%(channel)s, 't:' || queue) END AS notified
FROM upserted
