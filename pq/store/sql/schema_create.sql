-- Creates the schema that holds pq's tables when it does not exist yet. Params: none.
CREATE SCHEMA IF NOT EXISTS {schema}
