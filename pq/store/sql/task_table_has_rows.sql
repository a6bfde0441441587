-- Whether pq_tasks holds any row, before a no-transaction migration: on an empty table (a new
-- database) its indexes are built in a transaction, which blocks nothing and, unlike
-- CREATE INDEX CONCURRENTLY, does not wait for every older transaction in the database to end.
-- Params: none. Index: none (a scan that stops at the first row). Locks: none.
SELECT EXISTS (SELECT 1 FROM {schema}.pq_tasks) AS present
