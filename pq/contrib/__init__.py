"""Glue for web frameworks, each an optional extra: `pq.contrib.django` (extra `django`),
`pq.contrib.starlette` and its alias `pq.contrib.fastapi` (extra `fastapi`), `pq.contrib.flask`
(extra `flask`). They use only pq's public API."""
