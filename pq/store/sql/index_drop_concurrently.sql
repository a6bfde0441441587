-- Drops one index of the schema without blocking reads or writes of its table; must run
-- outside a transaction block. {index} is the quoted name, taken from pq's own migration
-- files. Params: none. Locks: SHARE UPDATE EXCLUSIVE on the table, waiting out transactions
-- that use the index.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.{index}
