"""The admin shows tasks and schedules and changes nothing: retries, cancels and purges go
through `manage.py pq retry|cancel|purge` or the dashboard, which keep pq's invariants
(fencing, notifications) that a raw row edit would break."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pq.contrib.django.models import Schedule, Task


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[misc]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "queue", "status", "outcome", "attempts", "run_at", "finished_at")
    list_filter = ("status", "queue", "outcome")
    search_fields = ("name", "client_id")
    date_hierarchy = None
    show_full_result_count = False  # a count(*) over millions of rows on every page is slow


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyAdmin):
    list_display = ("name", "key", "cron", "every_seconds", "active", "next_run", "last_run")
    list_filter = ("active", "queue")
