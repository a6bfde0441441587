"""`from pq.dashboard import dashboard`: the dashboard's public name (it lives in pq.web)."""

from pq.web import dashboard

__all__ = ["dashboard"]
