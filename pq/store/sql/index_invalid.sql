-- Finds an index left INVALID by an interrupted CREATE INDEX CONCURRENTLY (a killed
-- migration, a cancelled statement): it is kept up to date by writes but never used, and
-- CREATE INDEX ... IF NOT EXISTS would skip it. Params: schema (name, unquoted), index.
-- Index: system catalogs. Locks: none.
SELECT c.relname
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
  AND c.relname = %(index)s
  AND NOT i.indisvalid
