"""Storage: connections, the SQL, the schema and the embedded development database.

Owns: db (connections, pools, callers' connections of other drivers), queries (the ONLY module
that runs SQL; one function per file in sql/), migrate (numbered migrations/ under an
advisory lock), embedded (the development Postgres under ./.pq/).

May import: pq.errors only. Nothing in pq.store knows about tasks as Python objects.
"""
