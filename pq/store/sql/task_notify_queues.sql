-- Wakes idle workers of the given queues after a bulk insert; like every NOTIFY it is
-- delivered only when the surrounding transaction commits.
-- Params: queues (text[]), channel. Index: none. Locks: none.
SELECT pg_notify(%(channel)s, 't:' || q) AS notified
FROM unnest(%(queues)s::text[]) AS q
