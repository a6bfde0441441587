-- Deletes the rows of workers that stopped (cleanly or declared lost) more than a day ago;
-- their attempts were recorded or rescued long before, so nothing refers to them any more.
-- Params: none. Index: none (pq_workers holds one row per worker start: a small table).
-- Locks: the deleted rows.
DELETE FROM {schema}.pq_workers
WHERE stopped_at < now() - interval '1 day'
