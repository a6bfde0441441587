-- Locks one concurrency key (creating its row on first use) until the flow claim's
-- transaction ends: claimers of a key take turns, and each counts the key's running rows in
-- a later statement, whose snapshot sees every claim committed before the lock was granted.
-- Params: key. Index: primary key. Locks: the key row (waits for it).
INSERT INTO {schema}.pq_concurrency_keys AS k (key) VALUES (%(key)s)
ON CONFLICT (key) DO UPDATE SET key = k.key
RETURNING key
