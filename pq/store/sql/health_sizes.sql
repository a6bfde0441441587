-- Doctor: the size of every pq table and index of one schema, largest first.
-- Params: schema. Index: catalogs only. Locks: none.
SELECT c.relname AS name,
       CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END AS kind,
       pg_total_relation_size(c.oid) AS bytes
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
  AND c.relname LIKE 'pq\_%%'
  AND c.relkind IN ('r', 'i')
ORDER BY pg_total_relation_size(c.oid) DESC
