-- Reserves a workflow id and the ids of the rows a chain, group or chord writes first (their
-- COPY in flow_copy.sql names them), ids for the extra pq_chords rows of a nested canvas (the
-- first one's id is the workflow id), and reads the transaction's clock for their run_at.
-- Params: n (how many task ids), barriers (how many extra barrier ids).
-- Index: none (sequences). Locks: none.
SELECT nextval('{schema}.pq_workflow_id_seq') AS workflow_id,
       (SELECT array_agg(nextval(pg_get_serial_sequence('{schema}.pq_tasks', 'id')) ORDER BY i)
        FROM generate_series(1, %(n)s) AS i) AS ids,
       (SELECT array_agg(nextval('{schema}.pq_workflow_id_seq') ORDER BY i)
        FROM generate_series(1, %(barriers)s) AS i) AS barrier_ids,
       now() AS now
