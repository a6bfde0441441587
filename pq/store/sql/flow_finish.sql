-- task_finish.sql for a batch that holds workflow rows (chain steps, chord members): the
-- same UPDATE (kept in step by tests/unit/test_flow_sql.py), then the links.
-- Records the end of many attempts in one statement (one per worker loop turn).
-- Params: rows (json text: array of {id, attempt, worker_id, status, outcome, error, result,
--         retry_at, record}), channel_done, channel (new work: a row pending again and due,
--         such as a promoted upsert version, wakes idle workers).
--   status is the row's next status ('completed', 'failed', 'cancelled', or 'pending' for a
--   retry at retry_at); record is the attempt's history entry.
-- Fencing: only a row still running the same attempt for the same worker changes, so a late
--   writer (a worker presumed lost, a run that outlived its cancel) changes nothing; the ids
--   returned are the rows that did change.
-- Upsert: a version parked on the row while it ran replaces it now and becomes pending.
-- Cancel: a row whose cancel was requested while it ran ends 'cancelled' unless it completed
--   (never 'failed', never retried), whatever the attempt's own outcome was.
-- Workflows: a completed chain step inserts the next step from its flow template (the
--   result first in its arguments unless the template is immutable), or one row per member
--   when the next step is a group spec; a completed chord member (a row with `chord` and no
--   `next` left) adds its result to its pq_chords row under its `member` key, and the
--   completion that makes the set whole enqueues the callback (fired is set under the row's
--   lock: once, whatever the races). Both happen in this statement, so a link is written if
--   and only if its step's end is. The flow format is described in pq/producer/plan.py; rows
--   written before nesting (no `member`, `step`, `flow` in templates) read as they did.
-- Flow control: a retry of a rate-limited or key-limited row goes back to 'waiting'; the
--   end of a key-limited row sends 'w:<queue>' (the next task of its key may start).
-- Returns one row per changed task (kind 'done') and per new workflow row (kind 'new').
-- Waiters: the done NOTIFY goes out only when a session waits for task ends (see
--   task_finish.sql and channel_done_wait.sql). Params: done_key.
-- Locks: the updated rows, by primary key; the chord rows of completed members, in id order
--   (barriers); the first free done slot's advisory lock, to commit.
WITH finished AS (
    SELECT *
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        id bigint, attempt integer, worker_id bigint, status text, outcome text,
        error text, result jsonb, retry_at timestamptz, record jsonb)
),
awaited AS (  -- a volatile call: evaluated once
    -- the first free slot is ours to commit; all 16 taken means a waiter holds them shared
    -- (or 16 finishes run at once: one NOTIFY too many, harmless)
    SELECT NOT EXISTS (
        SELECT FROM generate_series(0, 15) AS s
        WHERE pg_try_advisory_xact_lock(%(done_key)s::integer, (pg_backend_pid() + s) %% 16)
    ) AS anyone
),
done AS (
UPDATE {schema}.pq_tasks AS t
SET status      = CASE WHEN t.parked IS NOT NULL THEN 'pending'
                       WHEN t.cancel_requested_at IS NOT NULL AND f.status <> 'completed'
                       THEN 'cancelled'
                       WHEN f.status = 'pending'
                            AND (t.rate_key IS NOT NULL OR t.concurrency_key IS NOT NULL)
                       THEN 'waiting'
                       ELSE f.status END,
    outcome     = CASE WHEN t.parked IS NULL AND t.cancel_requested_at IS NOT NULL
                            AND f.status <> 'completed' THEN 'cancelled'
                       ELSE f.outcome END,
    error       = CASE WHEN t.parked IS NOT NULL THEN NULL ELSE f.error END,
    result      = CASE WHEN t.parked IS NOT NULL THEN NULL ELSE f.result END,
    finished_at = CASE WHEN t.parked IS NOT NULL THEN NULL
                       WHEN f.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
                       ELSE now() END,
    run_at      = CASE
                    WHEN t.parked IS NOT NULL THEN COALESCE((t.parked->>'run_at')::timestamptz, now())
                    WHEN f.status = 'pending' AND t.cancel_requested_at IS NULL THEN f.retry_at
                    ELSE t.run_at END,
    history     = t.history || jsonb_build_array(f.record),
    worker_id   = NULL,
    cancel_requested_at = NULL,
    name         = COALESCE(t.parked->>'name', t.name),
    queue        = COALESCE(t.parked->>'queue', t.queue),
    priority     = COALESCE((t.parked->>'priority')::smallint, t.priority),
    args         = COALESCE(t.parked->'args', t.args),
    kwargs       = COALESCE(t.parked->'kwargs', t.kwargs),
    options      = COALESCE(t.parked->'options', t.options),
    max_attempts = COALESCE((t.parked->>'max_attempts')::integer, t.max_attempts),
    attempts     = CASE WHEN t.parked IS NOT NULL THEN 0 ELSE t.attempts END,
    parked       = NULL
FROM finished AS f
WHERE t.id = f.id
  AND t.attempts = f.attempt
  AND t.worker_id = f.worker_id
  AND t.status = 'running'
RETURNING t.id, t.status, t.queue, t.run_at, t.result, t.workflow_id, t.workflow_step, t.flow,
          t.concurrency_key
),
members AS (
    SELECT (d.flow->>'chord')::bigint AS chord_id,
           jsonb_object_agg(COALESCE(d.flow->>'member', d.workflow_step::text), d.result)
               AS results
    FROM done AS d
    WHERE d.status = 'completed' AND d.flow ? 'chord'
      AND jsonb_typeof(d.flow->'next') IS DISTINCT FROM 'array'  -- its chain has ended
    GROUP BY 1
),
barriers AS MATERIALIZED (
    -- locked in id order before any is updated: two workers recording members of the same
    -- barriers in crossing orders queue on the first instead of each holding one (deadlock)
    SELECT c.id
    FROM {schema}.pq_chords AS c
    WHERE c.id IN (SELECT m.chord_id FROM members AS m) AND NOT c.fired
    ORDER BY c.id
    FOR UPDATE
),
chords AS (
    UPDATE {schema}.pq_chords AS c
    SET results = c.results || m.results,
        fired = (SELECT count(*) FROM jsonb_object_keys(c.results || m.results)) >= c.total
    FROM members AS m, barriers AS b
    WHERE c.id = m.chord_id AND c.id = b.id AND NOT c.fired
    RETURNING c.id, c.total, c.callback, c.results, c.fired
),
links AS (  -- spec: a template or a group spec; flow: what a plain template's row inherits
    SELECT d.flow->'next'->0 AS spec, jsonb_build_array(d.result) AS head,
           d.workflow_id, d.workflow_step + 1 AS step,
           NULLIF((d.flow - 'next')
                  || CASE WHEN jsonb_array_length(d.flow->'next') > 1
                          THEN jsonb_build_object('next', (d.flow->'next') - 0)
                          ELSE '{}' END, '{}') AS flow
    FROM done AS d
    WHERE d.status = 'completed' AND jsonb_typeof(d.flow->'next') = 'array'
    UNION ALL
    SELECT c.callback,
           jsonb_build_array((SELECT jsonb_agg(r.value ORDER BY r.key::integer)
                              FROM jsonb_each(c.results) AS r)),
           COALESCE((c.callback->>'workflow_id')::bigint, c.id), c.total,
           CASE WHEN jsonb_typeof(c.callback->'next') = 'array'
                THEN jsonb_build_object('next', c.callback->'next') END
    FROM chords AS c
    WHERE c.fired
),
specs AS (  -- a group spec fans out into its members; a template's own step and flow win
    SELECT s.tpl, l.head, l.workflow_id,
           COALESCE((s.tpl->>'step')::integer, l.step) AS step,
           CASE WHEN s.tpl ? 'flow' THEN NULLIF(s.tpl->'flow', 'null') ELSE l.flow END AS flow
    FROM links AS l
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN l.spec ? 'group' THEN l.spec->'group' ELSE jsonb_build_array(l.spec) END
    ) AS s(tpl)
),
inserted AS (
    INSERT INTO {schema}.pq_tasks
        (name, queue, priority, status, args, kwargs, options, run_at, max_attempts,
         workflow_id, workflow_step, flow, rate_key, concurrency_key, concurrency_limit)
    SELECT l.tpl->>'name', l.tpl->>'queue', (l.tpl->>'priority')::smallint,
           CASE WHEN l.tpl->>'rate_key' IS NOT NULL OR l.tpl->>'concurrency_key' IS NOT NULL
                THEN 'waiting' ELSE 'pending' END,
           CASE WHEN (l.tpl->>'immutable')::boolean THEN l.tpl->'args'
                ELSE l.head || (l.tpl->'args') END,
           l.tpl->'kwargs', l.tpl->'options',
           now() + make_interval(secs => COALESCE((l.tpl->>'countdown')::double precision, 0)),
           (l.tpl->>'max_attempts')::integer,
           l.workflow_id, l.step, l.flow,
           l.tpl->>'rate_key', l.tpl->>'concurrency_key',
           (l.tpl->>'concurrency_limit')::integer
    FROM specs AS l
    RETURNING id, status, queue, run_at
)
SELECT 'done' AS kind, d.id, d.status,
       CASE WHEN (SELECT anyone FROM awaited)
            THEN pg_notify(%(channel_done)s, d.id::text || ':' || d.status)::text
       END AS notified_done,
       CASE WHEN d.status IN ('pending', 'waiting') AND d.run_at <= now()
            THEN pg_notify(%(channel)s, CASE d.status WHEN 'waiting' THEN 'w:' ELSE 't:' END || d.queue)::text
            -- a key-limited task ended: the next one of its key may start now
            WHEN d.concurrency_key IS NOT NULL THEN pg_notify(%(channel)s, 'w:' || d.queue)::text
       END AS notified_due
FROM done AS d
UNION ALL
SELECT 'new', i.id, i.status, NULL,
       CASE WHEN i.run_at <= now()
            THEN pg_notify(%(channel)s, CASE i.status WHEN 'waiting' THEN 'w:' ELSE 't:' END || i.queue)::text END
FROM inserted AS i
