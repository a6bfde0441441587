-- Reserves a workflow id and the ids of the rows a chain, group or chord writes first (their
-- COPY in flow_copy.sql names them), and reads the transaction's clock for their run_at.
-- Params: n (how many task ids). Index: none (sequences). Locks: none.
SELECT nextval('{schema}.pq_workflow_id_seq') AS workflow_id,
       (SELECT array_agg(nextval(pg_get_serial_sequence('{schema}.pq_tasks', 'id')) ORDER BY i)
        FROM generate_series(1, %(n)s) AS i) AS ids,
       now() AS now
