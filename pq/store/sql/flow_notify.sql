-- Wakes idle workers after a workflow's COPY: 't:<queue>' for pending rows, 'w:<queue>' for
-- rows held by flow control. Delivered on commit like every NOTIFY.
-- Params: payloads (text[]), channel. Index: none. Locks: none.
SELECT pg_notify(%(channel)s, p) AS notified
FROM unnest(%(payloads)s::text[]) AS p
