"""pq in a Django project: `INSTALLED_APPS += ["pq.contrib.django"]`, then

    from pq.contrib.django import app

    @app.task
    def send_receipt(order_id: int) -> None: ...

    with transaction.atomic():
        order = Order.objects.create(...)
        send_receipt.delay(order.id)        # rides Django's connection: commits with the order

`app` is built on first use from `settings.PQ` (see pq.contrib.django.conf), on the default
database alias when nothing is set. `python manage.py pq worker|migrate|tasks ...` runs the
`pq` command on it; `manage.py migrate` also applies pq's migrations; system checks report a
bad setting (pq.E001) and missing pq tables (pq.W001, with `check --database default`); the
admin lists tasks and schedules read-only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pq.contrib.django.queue import DjangoPQ

_lock = threading.Lock()
_app: DjangoPQ | None = None


def get_app() -> DjangoPQ:
    """The project's PQ (created from settings on the first call)."""
    global _app
    with _lock:
        if _app is None:
            from pq.contrib.django.conf import read_config
            from pq.contrib.django.queue import DjangoPQ

            _app = DjangoPQ(read_config())
        return _app


def database_settings(url: str | None = None) -> dict[str, Any]:
    """A DATABASES entry for a PostgreSQL URL (see pq.contrib.django.queue)."""
    from pq.contrib.django.queue import database_settings as build

    return build(url)


def __getattr__(name: str) -> Any:
    # `from pq.contrib.django import app` works in any module imported after settings load;
    # settings.py itself may import database_settings without building the app.
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "database_settings", "get_app"]
