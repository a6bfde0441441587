-- Registers a starting worker and returns its id, the fencing token of its attempts.
-- Params: host, pid, version, queues, priorities, concurrency, lease_seconds. Locks: new row.
INSERT INTO {schema}.pq_workers (host, pid, version, queues, priorities, concurrency, lease_seconds)
VALUES (%(host)s, %(pid)s, %(version)s, %(queues)s::text[], %(priorities)s::smallint[],
        %(concurrency)s, %(lease_seconds)s)
RETURNING id
