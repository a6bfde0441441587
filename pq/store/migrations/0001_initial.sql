-- 0001: the whole initial schema of pq.
-- Applied by pq/migrate.py inside one transaction holding an advisory lock; {schema} is
-- replaced by the quoted schema name of the PQ instance. Never edit a released migration:
-- add the next number instead.

CREATE TABLE IF NOT EXISTS {schema}.pq_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {schema}.pq_periodic (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text        NOT NULL,            -- task name: "module:qualname"
    key             text        NOT NULL DEFAULT '', -- lets one function have several schedules
    args            jsonb       NOT NULL DEFAULT '[]',
    kwargs          jsonb       NOT NULL DEFAULT '{}',
    every_seconds   double precision,                -- interval schedule, or ...
    cron            text,                            -- ... cron schedule (exactly one is set)
    timezone        text        NOT NULL DEFAULT 'UTC',
    max_concurrent  integer,                         -- NULL: overlap allowed
    active          boolean     NOT NULL DEFAULT true,
    priority        smallint    NOT NULL DEFAULT 50,
    queue           text        NOT NULL DEFAULT 'default',
    options         jsonb       NOT NULL DEFAULT '{}', -- task options (max_runtime, retries ...)
    declared_in_code boolean    NOT NULL DEFAULT false,
    orphaned_at     timestamptz,                     -- set when code no longer declares it
    next_run        timestamptz NOT NULL,
    last_run        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pq_periodic_one_schedule CHECK ((every_seconds IS NULL) <> (cron IS NULL)),
    CONSTRAINT pq_periodic_name_key UNIQUE (name, key)
);

CREATE INDEX IF NOT EXISTS pq_periodic_due_idx
    ON {schema}.pq_periodic (next_run) WHERE active;

CREATE TABLE IF NOT EXISTS {schema}.pq_workers (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host              text        NOT NULL,
    pid               integer     NOT NULL,
    version           text        NOT NULL,
    queues            text[]      NOT NULL,
    priorities        smallint[],                    -- NULL: every priority
    concurrency       integer     NOT NULL,
    lease_seconds     double precision NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at        timestamptz
);

CREATE TABLE IF NOT EXISTS {schema}.pq_tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL,
    queue         text        NOT NULL DEFAULT 'default',
    priority      smallint    NOT NULL DEFAULT 50,
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    args          jsonb       NOT NULL DEFAULT '[]',
    kwargs        jsonb       NOT NULL DEFAULT '{}',
    options       jsonb       NOT NULL DEFAULT '{}', -- max_runtime, max_memory, retry policy
    client_id     text UNIQUE,
    run_at        timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,    -- number of the current or last attempt
    max_attempts  integer     NOT NULL DEFAULT 1,
    worker_id     bigint,                            -- fencing: who runs the current attempt
    cancel_requested_at timestamptz,
    parked        jsonb,                             -- upsert arriving while running
    result        jsonb,
    error         text,
    outcome       text,                              -- kind of the last attempt's end
    history       jsonb       NOT NULL DEFAULT '[]', -- one object per finished attempt
    periodic_id   bigint REFERENCES {schema}.pq_periodic (id) ON DELETE SET NULL
);

-- The claim walks this index in order: it holds only pending rows, so it stays small and
-- fast however many finished rows pile up beside it.
CREATE INDEX IF NOT EXISTS pq_tasks_claim_idx
    ON {schema}.pq_tasks (priority DESC, run_at, id) INCLUDE (queue)
    WHERE status = 'pending';

-- Rescue and shutdown look up the running rows of one worker.
CREATE INDEX IF NOT EXISTS pq_tasks_running_idx
    ON {schema}.pq_tasks (worker_id) WHERE status = 'running';

-- Overlap control counts the live runs of a schedule.
CREATE INDEX IF NOT EXISTS pq_tasks_periodic_live_idx
    ON {schema}.pq_tasks (periodic_id) WHERE status IN ('pending', 'running');

-- list_failed / list_completed / clear_* read finished rows newest first.
CREATE INDEX IF NOT EXISTS pq_tasks_finished_idx
    ON {schema}.pq_tasks (status, finished_at DESC) WHERE status IN ('completed', 'failed', 'cancelled');
