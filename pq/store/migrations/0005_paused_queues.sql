-- 0005: queues an operator paused (`pq queue pause`, app.pause_queue).
-- Workers read this small table when they start, on every heartbeat and when a 'q:<queue>'
-- notice arrives, and leave paused queues out of their claim: the claim statement itself
-- does no extra work. A row here survives worker restarts until `pq queue resume`.
CREATE TABLE IF NOT EXISTS {schema}.pq_paused_queues (
    queue     text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);
