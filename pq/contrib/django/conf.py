"""The `PQ = {...}` Django setting, read and validated once.

    PQ = {
        "database": "default",          # a DATABASES alias (the default), or ...
        "url": "postgresql://...",      # ... a database of its own (no transaction sharing)
        "schema": "public",             # where pq's tables live (PQ_SCHEMA otherwise)
        "queues": ["default"],          # what `manage.py pq worker` takes without -q
        "include": ["shop.tasks"],      # task modules to import besides every app's tasks.py
    }

Every key is optional; so is the setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KNOWN_KEYS = {"database", "url", "schema", "queues", "include"}
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BadSetting(Exception):
    """A PQ setting that cannot work; the system check shows it (pq.E001)."""


@dataclass(frozen=True)
class Config:
    database: str = "default"
    url: str | None = None
    schema: str | None = None
    queues: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)

    @property
    def rides_django(self) -> bool:
        """True when pq shares a Django connection (and so its transactions)."""
        return self.url is None


def read_config() -> Config:
    """The PQ setting as a Config; raises BadSetting naming what is wrong."""
    from django.conf import settings

    raw: Any = getattr(settings, "PQ", {})
    if not isinstance(raw, dict):
        raise BadSetting(f"settings.PQ must be a dict, not {type(raw).__name__}")
    given = {str(k).lower(): v for k, v in raw.items()}
    unknown = sorted(set(given) - KNOWN_KEYS)
    if unknown:
        raise BadSetting(
            f"settings.PQ has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(KNOWN_KEYS))}"
        )
    if given.get("url") is not None and given.get("database") is not None:
        raise BadSetting("settings.PQ sets both 'url' and 'database': keep one")
    config = Config(
        database=_text(given, "database") or "default",
        url=_text(given, "url"),
        schema=_text(given, "schema"),
        queues=_names(given, "queues"),
        include=_names(given, "include"),
    )
    _check_database(config, settings.DATABASES)
    if config.schema is not None and not _SCHEMA.match(config.schema):
        raise BadSetting(
            f"settings.PQ['schema']={config.schema!r}: use lower-case letters, digits and '_'"
        )
    return config


def _text(given: dict[str, Any], key: str) -> str | None:
    value = given.get(key)
    if value is not None and not (isinstance(value, str) and value):
        raise BadSetting(f"settings.PQ[{key!r}] must be a non-empty string, not {value!r}")
    return value


def _names(given: dict[str, Any], key: str) -> list[str]:
    value = given.get(key, [])
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise BadSetting(f"settings.PQ[{key!r}] must be a list of names, not {value!r}")
    return list(value)


def _check_database(config: Config, databases: dict[str, Any]) -> None:
    if config.url is not None:
        return
    if config.database not in databases:
        raise BadSetting(
            f"settings.PQ['database']={config.database!r} is not an alias of "
            f"settings.DATABASES ({', '.join(sorted(databases)) or 'none defined'})"
        )
    engine = str(databases[config.database].get("ENGINE", ""))
    if "postgresql" not in engine and "postgis" not in engine:
        raise BadSetting(
            f"DATABASES[{config.database!r}] uses {engine or 'no ENGINE'}; pq needs "
            "PostgreSQL: point settings.PQ['database'] at a PostgreSQL alias or set 'url'"
        )
