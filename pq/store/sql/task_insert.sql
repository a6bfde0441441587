-- Inserts one task and, when it is due now and notify is true, wakes idle workers (NOTIFY is
-- delivered only when the surrounding transaction commits, so a rolled-back enqueue never
-- wakes anyone). notify is false for an enqueue in a burst: the producer sends one trailing
-- NOTIFY for the burst instead (see pq/producer/notify.py).
-- Params: name, queue, priority, args (json text), kwargs (json text), options (json text),
--         client_id (nullable, unique), run_at (nullable: now), max_attempts,
--         periodic_id (nullable), rate_key, concurrency_key, concurrency_limit (nullable:
--         flow control; with a key the row is written 'waiting' and wakes workers with
--         'w:<queue>', see pq/worker/flow.py), channel, notify (boolean: false leaves a
--         pending row's wake-up to the producer's trailing notice).
-- Locks: the new row only; a duplicate client_id raises unique_violation.
WITH inserted AS (
    INSERT INTO {schema}.pq_tasks
        (name, queue, priority, args, kwargs, options, client_id, run_at, max_attempts, periodic_id,
         status, rate_key, concurrency_key, concurrency_limit)
    VALUES
        (%(name)s, %(queue)s, %(priority)s, %(args)s::jsonb, %(kwargs)s::jsonb,
         %(options)s::jsonb, %(client_id)s, COALESCE(%(run_at)s::timestamptz, now()),
         %(max_attempts)s, %(periodic_id)s,
         CASE WHEN %(rate_key)s::text IS NULL AND %(concurrency_key)s::text IS NULL
              THEN 'pending' ELSE 'waiting' END,
         %(rate_key)s, %(concurrency_key)s, %(concurrency_limit)s)
    RETURNING id, queue, run_at, status
)
SELECT id,
       CASE WHEN run_at <= now() AND (%(notify)s OR status = 'waiting')
            THEN pg_notify(%(channel)s, CASE status WHEN 'waiting' THEN 'w:' ELSE 't:' END || queue)
       END AS notified
FROM inserted
