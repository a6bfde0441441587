"""System checks: a PQ setting that cannot work (pq.E001, always) and pq tables missing or
behind this pq (pq.W001, a database check: `manage.py check --database default`, also run by
`manage.py migrate`). A warning, not an error, so `manage.py migrate` can still fix it."""

from __future__ import annotations

from typing import Any

from django.core import checks

from pq import DatabaseUnavailableError, SchemaOutdatedError


def register() -> None:
    checks.register(check_setting, "pq")
    checks.register(check_schema, "pq", checks.Tags.database)


def check_setting(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    from pq.contrib.django.conf import BadSetting, read_config

    try:
        read_config()
    except BadSetting as exc:
        return [checks.Error(str(exc), hint="See pq.contrib.django.conf.", id="pq.E001")]
    return []


def check_schema(
    app_configs: Any = None, databases: Any = None, **_: Any
) -> list[checks.CheckMessage]:
    from pq.contrib.django.conf import BadSetting, read_config
    from pq.contrib.django.queue import DjangoPQ

    try:
        config = read_config()
    except BadSetting:
        return []  # check_setting reports it
    if config.rides_django and config.database not in (databases or ()):
        return []  # Django asked about other databases
    try:
        # Built from the setting as it is now (not the cached app), opening no pool.
        DjangoPQ(config).check_schema(upgrade_hint="python manage.py pq migrate")
    except SchemaOutdatedError as exc:
        return [
            checks.Warning(
                str(exc), hint="Run `python manage.py migrate` or `pq migrate`.", id="pq.W001"
            )
        ]
    except DatabaseUnavailableError as exc:
        return [checks.Warning(str(exc), id="pq.W002")]
    return []
