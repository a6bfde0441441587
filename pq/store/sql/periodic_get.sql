-- Reads one schedule. Params: name, key.
-- Index: the unique constraint pq_periodic_name_key. Locks: none.
SELECT * FROM {schema}.pq_periodic WHERE name = %(name)s AND key = %(key)s
