-- Records one applied migration. Params: version, name. Locks: the new row.
INSERT INTO {schema}.pq_migrations (version, name) VALUES (%(version)s, %(name)s)
