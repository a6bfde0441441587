"""The pages: overview, tasks, one task, one workflow, workers, schedules. Each handler reads
through the operator library (pq.ops, exposed on PQ) so the dashboard and the CLI show the
same truth.

Handlers are plain functions: Starlette runs them in its thread pool, where the blocking
psycopg calls of the library belong. A request with `X-PQ-Partial` (the live refresh) gets
only the part of the page that changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pq.models import TaskStatus
from pq.ops.browse import WINDOW, browse_tasks
from pq.ops.series import FAILED_CAP, failed_by_queue, finished_series
from pq.ops.workflow import WorkflowView, read_workflow
from pq.periodic.spec import ScheduleSpec
from pq.web.charts import failure_rate_chart, throughput_chart
from pq.web.render import page
from pq.web.summary import queue_rows

if TYPE_CHECKING:
    from pq.app import PQ

PAGE_SIZE = 50
STEPS_SHOWN = 500  # rows of one workflow listed (a group can have thousands; counts are whole)
SINCE_CHOICES = {"15m": 15, "1h": 60, "6h": 360, "24h": 1440, "7d": 7 * 1440}


def _app(request: Request) -> PQ:
    app: PQ = request.app.state.pq
    return app


def _render(request: Request, template: str, partial: str, **context: Any) -> Response:
    """The whole page, or only its live part when the refresh script asks for it."""
    name = partial if request.headers.get("x-pq-partial") else template
    return page(request, name, **context)


def overview(request: Request) -> Response:
    app = _app(request)
    series = finished_series(app, minutes=60)
    workers = app.list_workers()
    return _render(
        request,
        "overview.html",
        "_overview.html",
        queues=queue_rows(app.queue_stats(), app.paused_queues(), failed_by_queue(app)),
        failed_cap=FAILED_CAP,
        series=series,
        throughput_svg=throughput_chart(series),
        failure_svg=failure_rate_chart(series),
        workers_alive=sum(1 for w in workers if _worker_state(w) == "alive"),
        workers_lost=sum(1 for w in workers if _worker_state(w) == "lost"),
        now=datetime.now(UTC),
    )


class TaskFilters:
    """The tasks page's query string, checked: unknown statuses and odd text are refused."""

    def __init__(self, request: Request) -> None:
        params = request.query_params
        self.statuses = [s for s in params.getlist("status") if s]
        for status in self.statuses:
            if status not in TaskStatus.__members__.values():
                raise HTTPException(400, f"unknown status {status!r}")
        self.queue = _text(params.get("queue"), "queue")
        self.name = _text(params.get("name"), "name")
        self.since = params.get("since") or ""
        if self.since and self.since not in SINCE_CHOICES:
            raise HTTPException(400, f"since must be one of {', '.join(SINCE_CHOICES)}")
        self.search = (params.get("q") or "").strip()[:200]
        self.before_id = _positive_int(params.get("before"), "before")

    def since_moment(self) -> datetime | None:
        if not self.since:
            return None
        return datetime.now(UTC) - timedelta(minutes=SINCE_CHOICES[self.since])

    def query(self, **changes: Any) -> list[tuple[str, str]]:
        """The query string of this filter, with some values changed (for links)."""
        values = {"queue": self.queue, "name": self.name, "since": self.since, "q": self.search}
        values.update(changes)
        pairs = [("status", s) for s in self.statuses]
        pairs += [(k, str(v)) for k, v in values.items() if v]
        return pairs


def tasks(request: Request) -> Response:
    app = _app(request)
    filters = TaskFilters(request)
    if filters.search:
        rows, older, partial = _search(app, filters.search), None, False
    else:
        found = browse_tasks(
            app,
            status=filters.statuses or None,
            queue=[filters.queue] if filters.queue else None,
            name=filters.name or None,
            since=filters.since_moment(),
            before_id=filters.before_id,
            limit=PAGE_SIZE,
        )
        rows, older = found.tasks, found.next_before
        partial = older is not None and len(rows) < PAGE_SIZE
    return _render(
        request,
        "tasks.html",
        "_tasks.html",
        tasks=rows,
        filters=filters,
        statuses=[s.value for s in TaskStatus],
        since_choices=list(SINCE_CHOICES),
        older=older,
        window_partial=partial,
        window=WINDOW,
        now=datetime.now(UTC),
    )


def _search(app: PQ, text: str) -> list[Any]:
    """An id (digits, or '#42') finds that task; anything else is a client id."""
    digits = text.lstrip("#")
    task = app.get_task(int(digits)) if digits.isdigit() and len(digits) < 19 else None
    if task is None:
        task = app.get_task_by_client_id(text)
    return [task] if task is not None else []


def task_detail(request: Request) -> Response:
    app = _app(request)
    task_id = _positive_int(request.path_params["task_id"], "task id")
    task = app.get_task(task_id) if task_id is not None else None
    if task is None:
        raise HTTPException(404, f"task {task_id} does not exist (deleted or cleared?)")
    return _render(request, "task.html", "_task.html", task=task, now=datetime.now(UTC))


def workflow_id_of(request: Request) -> int:
    """The workflow id in the path; a malformed one names no workflow: 404, like an unknown
    one (ids are positive whole numbers, from a bigint sequence)."""
    raw = str(request.path_params["workflow_id"])
    if not raw.isdigit() or len(raw) > 18 or int(raw) == 0:
        raise HTTPException(404, f"there is no workflow {raw[:40]!r}: ids are positive numbers")
    return int(raw)


def workflow_or_404(app: PQ, workflow_id: int, limit: int | None = None) -> WorkflowView:
    view = read_workflow(app, workflow_id, limit)
    if view is None:
        raise HTTPException(
            404, f"workflow {workflow_id} has no task (never started, or its tasks were deleted)"
        )
    return view


def workflow_detail(request: Request) -> Response:
    app = _app(request)
    view = workflow_or_404(app, workflow_id_of(request), STEPS_SHOWN)
    return _render(request, "workflow.html", "_workflow.html", workflow=view)


def workers(request: Request) -> Response:
    rows = _app(request).list_workers()
    return _render(
        request,
        "workers.html",
        "_workers.html",
        workers=rows,
        state_of=_worker_state,
        now=datetime.now(UTC),
    )


def periodic(request: Request) -> Response:
    schedules = _app(request).list_schedules()
    return _render(
        request,
        "periodic.html",
        "_periodic.html",
        schedules=schedules,
        describe=lambda p: ScheduleSpec(
            every_seconds=p.every_seconds, cron=p.cron, timezone=p.timezone
        ).describe(),
        now=datetime.now(UTC),
    )


def _worker_state(worker: Any) -> str:
    state = getattr(worker, "state", None)
    return str(getattr(state, "value", state) or "alive")


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if len(text) > 200 or not text.isprintable():
        raise HTTPException(400, f"the {what} filter takes printable text up to 200 characters")
    return text


def _positive_int(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise HTTPException(400, f"{what} must be a positive whole number")
    return int(value)
