"""Rich tables for the operator commands, each fitting an 80-column terminal: wide cells
(names, errors) are cut with an ellipsis rather than wrapped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pq.models import Priority, Task
from pq.ops.models import QueueStats, WorkerInfo

_STATUS_STYLE = {
    "pending": "cyan",
    "running": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "alive": "green",
    "lost": "red",
    "stopped": "dim",
}


def priority_name(value: int) -> str:
    try:
        return Priority(value).name.lower()
    except ValueError:
        return str(value)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    suffix = "ago" if seconds >= 0 else "from now"
    return f"{seconds_text(abs(seconds))} {suffix}"


def seconds_text(seconds: float | None) -> str:
    """3.2s, 4m10s, 2h05m, 3d04h: short and exact enough for an operator."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def styled(value: str) -> Text:
    return Text(value, style=_STATUS_STYLE.get(value, ""))


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        title=title,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        padding=(0, 1),
    )
    for column in columns:
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    return table


def _duration(task: Task) -> str:
    if task.history and task.history[-1].duration is not None:
        return seconds_text(task.history[-1].duration)
    if task.started_at and task.status == "running":
        return seconds_text((datetime.now(UTC) - task.started_at).total_seconds())
    return "-"


def tasks_table(tasks: list[Task]) -> Table:
    table = _table("ID", "Status", "Queue", "Name", "Try", "When", "Took")
    table.columns[3].max_width = 28
    table.columns[2].max_width = 12
    for task in tasks:
        when = task.finished_at or task.started_at or task.run_at
        table.add_row(
            str(task.id),
            styled(task.status.value),
            task.queue,
            task.name,
            f"{task.attempts}/{task.max_attempts}",
            ago(when),
            _duration(task),
        )
    return table


def task_detail(task: Task) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("id", task.id),
        ("name", task.name),
        ("status", styled(task.status.value)),
        ("queue", f"{task.queue} (priority {priority_name(task.priority)})"),
        ("args", repr(task.args)),
        ("kwargs", repr(task.kwargs)),
        ("attempts", f"{task.attempts} of {task.max_attempts}"),
        ("created", f"{task.created_at.isoformat()} ({ago(task.created_at)})"),
        ("run at", f"{task.run_at.isoformat()} ({ago(task.run_at)})"),
        ("client id", task.client_id or "-"),
        ("result", repr(task.result) if task.status == "completed" else "-"),
    ]
    # Columns stored with the wrong shape (written by plain SQL), shown as stored.
    rows += [
        (f"{name} (invalid)", Text(repr(value), "red")) for name, value in task.invalid.items()
    ]
    for label, value in rows:
        facts.add_row(label, value if isinstance(value, Text) else str(value))
    parts: list[RenderableType] = [facts]
    if task.history:
        attempts = _table("#", "Outcome", "Took", "Peak RSS", "CPU", "Worker", "Ended")
        for a in task.history:
            attempts.add_row(
                str(a.attempt),
                styled(a.outcome.value) if a.outcome != "success" else Text("success", "green"),
                seconds_text(a.duration),
                "-" if a.max_rss_kib is None else f"{a.max_rss_kib / 1024:.1f} MiB",
                "-" if a.cpu_seconds is None else f"{a.cpu_seconds:.2f}s",
                "-" if a.worker_id is None else str(a.worker_id),
                ago(a.finished_at),
            )
        parts.append(attempts)
    if task.error:
        parts += [Text("last error:", style="bold"), Text(task.error.rstrip())]
    return Group(*parts)


def workers_table(workers: list[WorkerInfo]) -> Table:
    table = _table("ID", "State", "Host", "PID", "Queues", "Slots", "Running", "Beat")
    table.columns[2].max_width = 16
    table.columns[4].max_width = 14
    table.columns[6].max_width = 14
    for w in workers:
        prios = "" if w.priorities is None else "/" + ",".join(map(priority_name, w.priorities))
        table.add_row(
            str(w.id),
            styled(w.state.value),
            w.host,
            str(w.pid),
            ",".join(w.queues) + prios,
            f"{len(w.running)}/{w.concurrency}",
            ",".join(map(str, w.running)) or "-",
            "-" if w.state == "stopped" else f"{seconds_text(w.heartbeat_age)} ago",
        )
    return table


def _rate(stats: QueueStats) -> str:
    return "-" if stats.failure_rate is None else f"{stats.failure_rate:.0%}"


def stats_table(stats: list[QueueStats]) -> Table:
    table = _table(
        "Queue\n:priority",
        "Due\nnow",
        "Due\nlater",
        "Run-\nning",
        "Oldest\ndue",
        "Done in\n1/5/15m",
        "Failed in\n1/5/15m",
        "Fail\nrate",
        "Run time\np50/p95",
    )
    table.columns[0].max_width = 16
    for column in table.columns[1:]:  # the queue's name is cut first, never a number
        column.min_width = max(len(line) for line in str(column.header).splitlines())
    for s in stats:
        name = (
            s.queue if s.priority == Priority.NORMAL else f"{s.queue}:{priority_name(s.priority)}"
        )
        name += " (paused)" if s.paused else ""
        table.add_row(
            Text(name, style="yellow" if s.paused else ""),
            str(s.due),
            str(s.scheduled),
            str(s.running),
            seconds_text(s.oldest_due_age),
            f"{s.completed_1m}/{s.completed_5m}/{s.completed_15m}",
            f"{s.failed_1m}/{s.failed_5m}/{s.failed_15m}",
            _rate(s),
            f"{seconds_text(s.p50_runtime)}/{seconds_text(s.p95_runtime)}",
        )
    return table
