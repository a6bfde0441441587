-- Tells whether the migrations table exists in the schema. Params: table_name. Locks: none.
SELECT to_regclass(%(table_name)s) IS NOT NULL AS present
