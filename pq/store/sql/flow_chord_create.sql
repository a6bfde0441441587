-- Creates the counter row of a chord before its members are written (same transaction).
-- Params: id (the workflow id), total (members), callback (json text: the row template).
-- Index: primary key. Locks: the new row.
INSERT INTO {schema}.pq_chords (id, total, callback)
VALUES (%(id)s, %(total)s, %(callback)s::jsonb)
