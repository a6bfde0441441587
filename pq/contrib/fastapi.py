"""`from pq.contrib.fastapi import pq_lifespan`: FastAPI is Starlette, so this is the same
helper as `pq.contrib.starlette` (see there)."""

from pq.contrib.starlette import pq_lifespan

__all__ = ["pq_lifespan"]
