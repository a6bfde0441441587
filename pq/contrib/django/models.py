"""Read-only views of pq's tables for the admin. Unmanaged: Django never creates, alters or
migrates them (pq's own migrations do), and the admin never writes them."""

from __future__ import annotations

from django.db import models

from pq.contrib.django.conf import BadSetting, read_config


def _table(name: str) -> str:
    try:
        schema = read_config().schema
    except BadSetting:
        schema = None
    import os

    schema = schema or os.environ.get("PQ_SCHEMA", "public")
    # Django quotes db_table whole: 'a"."b' becomes "a"."b", a schema-qualified name.
    return f'{schema}"."{name}'


class Task(models.Model):  # type: ignore[misc]
    id = models.BigIntegerField(primary_key=True)
    name = models.TextField()
    queue = models.TextField()
    priority = models.SmallIntegerField()
    status = models.TextField()
    args = models.JSONField()
    kwargs = models.JSONField()
    options = models.JSONField()
    client_id = models.TextField(null=True)
    run_at = models.DateTimeField()
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    attempts = models.IntegerField()
    max_attempts = models.IntegerField()
    result = models.JSONField(null=True)
    error = models.TextField(null=True)
    outcome = models.TextField(null=True)
    history = models.JSONField()

    class Meta:
        managed = False
        db_table = _table("pq_tasks")
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"#{self.id} {self.name} ({self.status})"


class Schedule(models.Model):  # type: ignore[misc]
    id = models.BigIntegerField(primary_key=True)
    name = models.TextField()
    key = models.TextField()
    every_seconds = models.FloatField(null=True)
    cron = models.TextField(null=True)
    timezone = models.TextField()
    active = models.BooleanField()
    queue = models.TextField()
    priority = models.SmallIntegerField()
    next_run = models.DateTimeField()
    last_run = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = _table("pq_periodic")
        ordering = ("name", "key")

    def __str__(self) -> str:
        return f"{self.name}[{self.key}]" if self.key else self.name
