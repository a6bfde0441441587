-- Creates a barrier row (a chord's counter) before its members are written (same
-- transaction). A chord's barrier has the workflow id; a nested canvas's other barriers have
-- ids from the same sequence.
-- Params: id, total (members), callback (json text: what the firing writes, see
-- pq/producer/plan.py). Index: primary key. Locks: the new row.
INSERT INTO {schema}.pq_chords (id, total, callback)
VALUES (%(id)s, %(total)s, %(callback)s::jsonb)
