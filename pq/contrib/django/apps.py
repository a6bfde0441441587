"""The Django app: imports task modules, registers the checks, migrates with Django."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


class PQConfig(AppConfig):  # type: ignore[misc]
    name = "pq.contrib.django"
    label = "pq"
    verbose_name = "pq task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pq.contrib.django import checks
        from pq.contrib.django.conf import BadSetting, read_config

        checks.register()
        try:
            config = read_config()
        except BadSetting:
            return  # the check (pq.E001) says what is wrong; the project still starts
        # Every app's tasks.py, then the modules the setting names: their decorators register
        # task options and periodic schedules, which the worker must know.
        autodiscover_modules("tasks")
        for module in config.include:
            importlib.import_module(module)
        post_migrate.connect(migrate_pq, sender=self, dispatch_uid="pq.contrib.django")


def migrate_pq(sender: AppConfig, using: str = "default", **_: Any) -> None:
    """`manage.py migrate` (and the test runner's test database) gets pq's tables too."""
    from pq.contrib.django import get_app

    app = get_app()
    if app.django_config.rides_django and using == app.django_config.database:
        app.run_db_migrations()
