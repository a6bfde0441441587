-- pq:no-transaction
-- 0002: claims stay as cheap with a million rows in other queues, scheduled for later or of
-- priorities a worker does not take as with an empty table (docs/performance.md, "Claim cost
-- and indexes"). The claim (task_claim.sql) reads short ranges of one index per (queue,
-- priority): queue first, then priority, then run_at, so the due rows of one queue at one
-- priority are a prefix of their range, and rows of other queues or not yet due are never
-- walked. The flow claim's index of waiting rows gets the same shape.
--
-- The first line makes pq/store/migrate.py run this file outside a transaction, one statement
-- at a time, while it holds a session advisory lock: CREATE INDEX CONCURRENTLY builds the
-- index without blocking enqueues or claims (a plain CREATE INDEX would hold writes to
-- pq_tasks for the whole build on a table of millions of rows). A build that was interrupted
-- leaves an INVALID index; the runner drops it before building again. Through a connection
-- pooler the runner applies it in one transaction without CONCURRENTLY (writes wait for the
-- build): run `pq migrate` with a direct URL on a large table.

CREATE INDEX CONCURRENTLY IF NOT EXISTS pq_tasks_pending_idx
    ON {schema}.pq_tasks (queue, priority, run_at, id)
    WHERE status = 'pending';

-- Superseded: it led with priority, so a claim walked every higher-priority row of any queue,
-- due or not, before reaching its own.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.pq_tasks_claim_idx;

CREATE INDEX CONCURRENTLY IF NOT EXISTS pq_tasks_waiting_queue_idx
    ON {schema}.pq_tasks (queue, priority, run_at, id)
    WHERE status = 'waiting';

DROP INDEX CONCURRENTLY IF EXISTS {schema}.pq_tasks_waiting_idx;

-- The new index takes the old name: on a new database 0004 runs after this file, and its
-- CREATE INDEX IF NOT EXISTS pq_tasks_waiting_idx then finds this index and adds no other.
-- Renaming an index takes only a SHARE UPDATE EXCLUSIVE lock: writes go on.
ALTER INDEX {schema}.pq_tasks_waiting_queue_idx RENAME TO pq_tasks_waiting_idx;
