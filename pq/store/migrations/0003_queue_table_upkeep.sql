-- 0003: autovacuum suited to a queue table. Every task is inserted, updated two or three
-- times and (with retention) deleted, so dead tuples pile up far faster than the default
-- thresholds (a fifth of the table) assume; vacuum them early and often, in small passes, and
-- keep statistics fresh for the claim's plan. A lower fillfactor leaves room on each page for
-- HOT updates (status changes that touch no index column stay on the page).
ALTER TABLE {schema}.pq_tasks SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 500,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 500,
    autovacuum_vacuum_cost_delay = 1,
    fillfactor = 85
);

-- Heartbeats update every live worker's row every few seconds.
ALTER TABLE {schema}.pq_workers SET (
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 200
);
