"""The actions: retry, cancel, delete a task; cancel a workflow; retry every failed task of a
name; pause and resume a queue or a schedule; run a schedule now.

Each is a POST (Origin- and CSRF-checked before anything runs), refused in read-only
mode, and confirmed: the page's script asks in a dialog and sends `confirmed=yes`; without
the script the server answers with a confirmation page first. Afterwards the browser is sent
back with a one-time message saying what changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pq.errors import WorkflowCancelStalledError
from pq.ops.workflow import read_workflow, stopped_by
from pq.web.pages import workflow_id_of, workflow_or_404
from pq.web.render import finish, page, prefix_of
from pq.web.security import CSRF_FIELD, FLASH_COOKIE, csrf_ok, same_origin

if TYPE_CHECKING:
    from pq.app import PQ


@dataclass(frozen=True)
class Outcome:
    message: str
    go_to: str  # path inside the dashboard


@dataclass(frozen=True)
class Action:
    question: Callable[[FormData, Request], str]
    run: Callable[[PQ, FormData, Request], Outcome]


def _task_id(request: Request) -> int:
    raw = str(request.path_params["task_id"])
    if not raw.isdigit() or len(raw) > 18:
        raise HTTPException(400, "task id must be a positive whole number")
    return int(raw)


def _field(form: FormData, name: str, *, required: bool = True) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise HTTPException(400, f"the form lacks {name!r}")
    if len(text) > 200 or not text.isprintable():
        raise HTTPException(400, f"{name!r} must be printable text up to 200 characters")
    return text


def _retry_task(app: PQ, form: FormData, request: Request) -> Outcome:
    task_id = _task_id(request)
    changed = app.retry([task_id])
    message = (
        f"Task #{task_id} is pending again; its earlier attempts stay in its history."
        if changed
        else f"Task #{task_id} was not retried: only failed or cancelled tasks can be."
    )
    return Outcome(message, f"/tasks/{task_id}")


def _cancel_task(app: PQ, form: FormData, request: Request) -> Outcome:
    task_id = _task_id(request)
    done = app.cancel(task_id)
    message = (
        f"Task #{task_id} is cancelled (a running one is stopped by its worker)."
        if done
        else f"Task #{task_id} had already ended: nothing to cancel."
    )
    return Outcome(message, f"/tasks/{task_id}")


def _delete_task(app: PQ, form: FormData, request: Request) -> Outcome:
    task_id = _task_id(request)
    done = app.delete_task(task_id)
    message = f"Task #{task_id} is deleted." if done else f"Task #{task_id} was not deleted."
    return Outcome(message, "/tasks" if done else f"/tasks/{task_id}")


def _cancel_workflow(app: PQ, form: FormData, request: Request) -> Outcome:
    workflow_id = workflow_id_of(request)
    # Read around the cancel to say what it stopped: app.cancel_workflow (the code behind
    # handle.cancel() and `pq cancel --workflow`) only says whether it stopped anything.
    before = workflow_or_404(app, workflow_id, limit=0)  # statuses only: no Task to read
    try:
        # A page must answer: rows another transaction keeps locked are reported, not
        # waited on for the API's 30 s.
        cancelled = app.cancel_workflow(workflow_id, timeout=CANCEL_PATIENCE)
    except WorkflowCancelStalledError as exc:
        return Outcome(str(exc), f"/workflows/{workflow_id}")
    if not cancelled:
        return Outcome(
            f"Workflow #{workflow_id} had already ended: nothing to cancel.",
            f"/workflows/{workflow_id}",
        )
    ended, running = stopped_by(before, read_workflow(app, workflow_id, limit=0))
    total = ended + running
    message = f"Workflow #{workflow_id} is cancelled: {total} step{'s' if total != 1 else ''}"
    message += " cancelled" + (
        f" ({running} running, stopped by {'its' if running == 1 else 'their'} worker)"
        if running
        else ""
    )
    message += "; no later step will start."
    return Outcome(message, f"/workflows/{workflow_id}")


def _retry_failed(app: PQ, form: FormData, request: Request) -> Outcome:
    name = _field(form, "name")
    count = app.retry(failed=True, name=name)
    return Outcome(
        f"{count} failed task{'s' if count != 1 else ''} of {name} pending again.",
        f"/tasks?status=failed&name={quote(name)}",
    )


def _queue_action(pause: bool) -> Callable[[PQ, FormData, Request], Outcome]:
    def run(app: PQ, form: FormData, request: Request) -> Outcome:
        queue = _field(form, "queue")
        if pause:
            app.pause_queue(queue)
            return Outcome(f"Queue {queue} is paused: workers claim nothing from it.", "/")
        app.resume_queue(queue)
        return Outcome(f"Queue {queue} is resumed.", "/")

    return run


def _schedule_action(verb: str) -> Callable[[PQ, FormData, Request], Outcome]:
    def run(app: PQ, form: FormData, request: Request) -> Outcome:
        name, key = _field(form, "name"), _field(form, "key", required=False)
        label = f"{name}" + (f" (key {key})" if key else "")
        if verb == "pause":
            app.pause_schedule(name, key=key)
            return Outcome(f"Schedule {label} is paused.", "/periodic")
        if verb == "resume":
            schedule = app.resume_schedule(name, key=key)
            return Outcome(
                f"Schedule {label} is resumed; next run {schedule.next_run:%Y-%m-%d %H:%M:%S}.",
                "/periodic",
            )
        task_id = app.run_schedule_now(name, key=key)
        return Outcome(f"Schedule {label} enqueued task #{task_id}.", f"/tasks/{task_id}")

    return run


def _schedule_question(template: str) -> Callable[[FormData, Request], str]:
    def ask(form: FormData, request: Request) -> str:
        key = _field(form, "key", required=False)
        return template.format(_field(form, "name") + (f" (key {key})" if key else ""))

    return ask


ACTIONS: dict[str, Action] = {
    "retry": Action(lambda f, r: f"Retry task #{_task_id(r)}?", _retry_task),
    "cancel": Action(lambda f, r: f"Cancel task #{_task_id(r)}?", _cancel_task),
    "delete": Action(lambda f, r: f"Delete task #{_task_id(r)} for good?", _delete_task),
    "cancel-workflow": Action(
        lambda f, r: f"Cancel workflow #{workflow_id_of(r)}: every step not yet finished?",
        _cancel_workflow,
    ),
    "retry-failed": Action(
        lambda f, r: f"Retry every failed task of {_field(f, 'name')}?", _retry_failed
    ),
    "pause-queue": Action(lambda f, r: f"Pause queue {_field(f, 'queue')}?", _queue_action(True)),
    "resume-queue": Action(
        lambda f, r: f"Resume queue {_field(f, 'queue')}?", _queue_action(False)
    ),
    "pause-schedule": Action(_schedule_question("Pause schedule {}?"), _schedule_action("pause")),
    "resume-schedule": Action(
        _schedule_question("Resume schedule {}?"), _schedule_action("resume")
    ),
    "run-schedule": Action(
        _schedule_question("Enqueue one run of {} now?"), _schedule_action("run")
    ),
}


def handler(kind: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one action: checks, then the blocking work in the thread pool."""
    action = ACTIONS[kind]

    async def endpoint(request: Request) -> Response:
        if request.app.state.settings.read_only:
            raise HTTPException(403, "this dashboard is read-only: actions are disabled")
        form = await read_form(request)
        check_post(request, form)
        return await run_in_threadpool(_perform, action, request, form)

    return endpoint


MAX_FORM_BYTES = 16 * 1024
CANCEL_PATIENCE = 5.0  # seconds a workflow's cancel waits on rows another transaction locks


async def read_form(request: Request) -> FormData:
    """The POST's url-encoded form (every form of the dashboard is one, and small): parsed
    here rather than through python-multipart, one dependency fewer. A bigger body, or
    another encoding, is refused before it is read whole."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise HTTPException(415, "the dashboard takes url-encoded forms only")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "that form is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the form is not UTF-8") from None
    pairs: list[tuple[str, str | UploadFile]] = list(
        parse_qsl(text, keep_blank_values=True, max_num_fields=50)
    )
    return FormData(pairs)


def check_post(request: Request, form: FormData) -> None:
    """Refuses a POST from another site: wrong Origin, or no matching CSRF value. A script
    that authenticates with the bearer header sends no cookie, so it cannot be forged."""
    if not same_origin(request):
        raise HTTPException(403, "this form was sent from another site: refused")
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    submitted = form.get(CSRF_FIELD)
    if not csrf_ok(request, submitted if isinstance(submitted, str) else None):
        raise HTTPException(403, "the form's CSRF check failed: reload the page and try again")


def _perform(action: Action, request: Request, form: FormData) -> Response:
    question = action.question(form, request)
    if form.get("confirmed") != "yes":
        fields = [(k, v) for k, v in form.multi_items() if k not in (CSRF_FIELD, "confirmed")]
        return page(request, "confirm.html", question=question, fields=fields)
    outcome = action.run(request.app.state.pq, form, request)
    response = RedirectResponse(prefix_of(request) + outcome.go_to, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        quote(outcome.message),
        path=prefix_of(request) or "/",
        httponly=True,
        samesite="strict",
    )
    finish(request, response)
    return response
