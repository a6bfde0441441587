-- Deletes one schedule (unschedule). Its past and pending tasks stay; their periodic_id
-- becomes NULL through the foreign key (ON DELETE SET NULL).
-- Params: name, key. Index: the unique constraint pq_periodic_name_key. Locks: the row.
DELETE FROM {schema}.pq_periodic
WHERE name = %(name)s AND key = %(key)s
RETURNING id
