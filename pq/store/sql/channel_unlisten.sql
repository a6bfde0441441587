-- Unsubscribes this connection from a notification channel: an idle worker that does not hold
-- its queue set's listener slot (pq/worker/slot.py) must not be woken by every NOTIFY.
-- {channel} is a quoted identifier derived from the validated schema name. Params: none.
-- Locks: none.
UNLISTEN {channel}
