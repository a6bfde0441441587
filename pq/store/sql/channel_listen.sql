-- Subscribes this connection to a notification channel. {channel} is a quoted identifier
-- derived from the validated schema name. Params: none. Locks: none.
LISTEN {channel}
