-- Inserts one task and, when it is due now and notify is true, wakes idle workers (NOTIFY is
-- delivered only when the surrounding transaction commits, so a rolled-back enqueue never
-- wakes anyone). notify is false for an enqueue in a burst: the producer sends one trailing
-- NOTIFY for the burst instead (see pq/producer/notify.py).
-- Params: name, queue, priority, args (json text), kwargs (json text), options (json text),
--         client_id (nullable, unique), run_at (nullable: now), max_attempts,
--         periodic_id (nullable), channel, notify (boolean).
-- Locks: the new row only; a duplicate client_id raises unique_violation.
WITH inserted AS (
    INSERT INTO {schema}.pq_tasks
        (name, queue, priority, args, kwargs, options, client_id, run_at, max_attempts, periodic_id)
    VALUES
        (%(name)s, %(queue)s, %(priority)s, %(args)s::jsonb, %(kwargs)s::jsonb,
         %(options)s::jsonb, %(client_id)s, COALESCE(%(run_at)s::timestamptz, now()),
         %(max_attempts)s, %(periodic_id)s)
    RETURNING id, queue, run_at
)
SELECT id,
       CASE WHEN %(notify)s AND run_at <= now() THEN pg_notify(%(channel)s, 't:' || queue) END AS notified
FROM inserted
