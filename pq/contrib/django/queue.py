"""DjangoPQ: a PQ whose database is a Django alias and whose statements ride Django's
connection, so `delay()` inside `transaction.atomic()` commits or rolls back with the block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from pq import PQ
from pq.contrib.django.conf import Config


class DjangoPQ(PQ):
    """The app of `from pq.contrib.django import app` (built from settings.PQ)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config.url, schema=config.schema)
        self.django_config = config

    @property
    def database_url(self) -> str:
        """The alias's database, read at each use: Django's test runner renames it (test_*)
        after startup, and pq must follow it there."""
        if not self.django_config.rides_django:
            return super().database_url
        from django.db import connections

        return conninfo_of(connections[self.django_config.database].settings_dict)

    @contextmanager
    def executor(self, connection: Any = None, *, one_statement: bool = False) -> Iterator[Any]:
        """Without `connection=`, the alias's Django connection of this thread: inside
        `transaction.atomic()` the insert joins the block, outside it Django autocommits it.
        The web process so needs no pool of pq's own."""
        if connection is None and self.django_config.rides_django:
            from django.db import connections

            connection = connections[self.django_config.database]
        with super().executor(connection, one_statement=one_statement) as ex:
            yield ex

    def run_worker_with(self, *args: Any, **kwargs: Any) -> int:
        # A forked child must not inherit a socket of the parent's Django connections (two
        # processes on one session corrupt it): close them before the first fork. Children
        # open their own when a task uses the ORM.
        from django.db import connections

        connections.close_all()
        return super().run_worker_with(*args, **kwargs)


def conninfo_of(settings_dict: dict[str, Any]) -> str:
    """A libpq connection string from a DATABASES entry (NAME, USER, PASSWORD, HOST, PORT,
    and the OPTIONS that are libpq parameters, such as sslmode)."""
    params: dict[str, Any] = {
        "dbname": settings_dict.get("NAME"),
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
        "host": settings_dict.get("HOST"),
        "port": settings_dict.get("PORT"),
    }
    libpq = {d.keyword.decode() for d in psycopg.pq.Conninfo.get_defaults()}
    for key, value in (settings_dict.get("OPTIONS") or {}).items():
        if key in libpq and isinstance(value, str | int):
            params[key] = value
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})


def database_settings(url: str | None = None) -> dict[str, Any]:
    """A DATABASES entry for a PostgreSQL URL; with none, PQ_DATABASE_URL or pq's embedded
    development database (as `PQ()` resolves it). For settings.py:

        DATABASES = {"default": database_settings(os.environ.get("DATABASE_URL"))}
    """
    info = psycopg.conninfo.conninfo_to_dict(PQ(url).database_url)
    entry: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": info.pop("dbname", "postgres"),
        "USER": info.pop("user", ""),
        "PASSWORD": info.pop("password", ""),
        "HOST": info.pop("host", ""),
        "PORT": str(info.pop("port", "")),
    }
    if info:
        entry["OPTIONS"] = info
    return entry
