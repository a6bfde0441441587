-- 0004: workflows (chain, group, chord) and flow control (global rate limits, per-key
-- concurrency). See docs/workflows.md for what each column promises.
--
-- Workflows. A chain step's row carries in `flow` what happens when it completes: the
-- templates of the steps still to come ({"next": [...]}) and/or the chord it belongs to
-- ({"chord": id}). task_finish.sql inserts the next step (or the chord's callback) in the
-- same statement that records the completion, so a crash can neither lose nor double a link.
ALTER TABLE {schema}.pq_tasks
    ADD COLUMN IF NOT EXISTS workflow_id     bigint,   -- the chain/group/chord a task belongs to
    ADD COLUMN IF NOT EXISTS workflow_step   integer,  -- its position there (chain step, member)
    ADD COLUMN IF NOT EXISTS flow            jsonb,    -- what its completion enqueues
    ADD COLUMN IF NOT EXISTS rate_key        text,     -- global rate limit bucket, if any
    ADD COLUMN IF NOT EXISTS concurrency_key text,     -- per-key concurrency, if any
    ADD COLUMN IF NOT EXISTS concurrency_limit integer;

-- 'waiting': held back by flow control (a rate limit or a per-key concurrency limit). The
-- ordinary claim walks only 'pending' rows, so tasks without limits never pay for them; a
-- separate flow claim (flow_claim_*.sql) moves waiting rows to running when a limit allows.
ALTER TABLE {schema}.pq_tasks DROP CONSTRAINT IF EXISTS pq_tasks_status_check;
ALTER TABLE {schema}.pq_tasks ADD CONSTRAINT pq_tasks_status_check
    CHECK (status IN ('pending', 'waiting', 'running', 'completed', 'failed', 'cancelled'));

CREATE SEQUENCE IF NOT EXISTS {schema}.pq_workflow_id_seq;

-- A handle reads the rows of its workflow in step order.
CREATE INDEX IF NOT EXISTS pq_tasks_workflow_idx
    ON {schema}.pq_tasks (workflow_id, workflow_step) WHERE workflow_id IS NOT NULL;

-- The flow claim walks waiting rows in claim order.
CREATE INDEX IF NOT EXISTS pq_tasks_waiting_idx
    ON {schema}.pq_tasks (priority DESC, run_at, id) INCLUDE (queue, rate_key, concurrency_key)
    WHERE status = 'waiting';

-- Per-key concurrency counts the running rows of one key.
CREATE INDEX IF NOT EXISTS pq_tasks_key_running_idx
    ON {schema}.pq_tasks (concurrency_key)
    WHERE status = 'running' AND concurrency_key IS NOT NULL;

-- One row per chord: its members' results gather here (keyed by member index) in the
-- statements that record their completions; the one that completes the set enqueues the
-- callback and sets fired, under the row's lock, so the callback is enqueued exactly once.
CREATE TABLE IF NOT EXISTS {schema}.pq_chords (
    id          bigint PRIMARY KEY,          -- the workflow id
    total       integer     NOT NULL,
    results     jsonb       NOT NULL DEFAULT '{}',
    callback    jsonb       NOT NULL,        -- the callback's row template
    fired       boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per rate limit bucket: the start times of the last window (a sliding log, at most
-- the limit's count of entries). The flow claim locks the row, drops entries older than the
-- window, and claims only as many tasks as the log has room for, so the limit holds for the
-- whole fleet and for every interval of the window's length.
CREATE TABLE IF NOT EXISTS {schema}.pq_rate_limits (
    key    text PRIMARY KEY,
    starts timestamptz[] NOT NULL DEFAULT '{}'
);

-- Per-key concurrency serialises claims of one key on this row's lock.
CREATE TABLE IF NOT EXISTS {schema}.pq_concurrency_keys (
    key text PRIMARY KEY
);
