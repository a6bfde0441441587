"""The pq dashboard: `dashboard(app)` is an ASGI application (needs the `dashboard` extra).

    from pq.dashboard import dashboard
    fastapi_app.mount("/pq", dashboard(app, token="..."))

or `pq dashboard myapp:app` from the command line.
"""

from pq.web.app import dashboard

__all__ = ["dashboard"]
