-- Indexes of the schema left INVALID by an interrupted CREATE INDEX CONCURRENTLY (a migration
-- killed or cancelled half way): writes keep them up to date, no query uses them.
-- Params: schema (name, unquoted). Index: system catalogs. Locks: none.
SELECT c.relname AS name, t.relname AS table_name
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
  AND NOT i.indisvalid
ORDER BY c.relname
