"""What runs in the forked child, and nothing else.

The child never touches the parent's connections: it reports over its pipe and leaves with
os._exit, so no finalizer, atexit hook or buffered library state of the parent runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from pq.errors import SerializationError
from pq.models import OutcomeKind, Task
from pq.retry import Retry
from pq.serialization import annotates_a_model, restore_arguments, storable_text
from pq.store.db import close_fork_local
from pq.store.redact import redact
from pq.telemetry import logs, tracing
from pq.worker.handoff import frame, receive
from pq.worker.limits import Limits
from pq.worker.output import tag_standard_streams
from pq.worker.tree import become_subreaper, prctl

if TYPE_CHECKING:
    from pq.runtime import Runtime
    from pq.worker.state import Hooks

# Exit code when even the report could not be written (the parent then records a crash).
EXIT_REPORT_FAILED = 70
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# The largest report (the JSON of a result, or of an error) a task may send: well under
# Postgres' 256 MiB limit for one value, with room for the rest of the record.
MAX_RESULT_BYTES = 64 * 2**20
# From this size on, a result travels after its report as raw JSON the parent never decodes.
RAW_RESULT_BYTES = 2**20


# The signals whose handlers the parent installed, restored through the C module: the
# `signal.signal` wrapper turns the handler it replaces into an enum and, as the parent's is a
# bound method, raises and catches a ValueError per signal in every child.
_signal: Any = importlib.import_module("_signal")
_PARENT_SIGNALS = tuple(
    int(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP)
)

# The report of the commonest ending (a task that returned None), encoded once in the parent.
_SUCCESS_NONE = json.dumps({"ok": True, "result": None}).encode()


def prepare(runtime: Runtime, name: str) -> None:
    """Parent side, before the fork: work out once per function what every child would
    otherwise redo (which parameters are pydantic models), so children inherit it.

    Only registered tasks: a name from a row is untrusted, and importing it is the child's
    business, never the parent's.
    """
    registered = runtime.registry.get(name)
    if registered is not None:
        annotates_a_model(registered.fn)


def run_child(
    runtime: Runtime,
    row: dict[str, Any],
    write_fd: int,
    hooks: Hooks,
    limits: Limits,
    *,
    parent: int,
) -> NoReturn:
    """Runs one task in this (forked) process, reports to the parent, and exits."""
    code = 0
    try:
        _become_independent(parent)
        _write_all(write_fd, encode_report(_run_one(runtime, row, hooks, limits, init=True)))
        tracing.flush()  # after the report: a slow exporter does not delay the record
    except BaseException:  # nothing may escape: the stack above us is the parent's loop
        code = EXIT_REPORT_FAILED
    close_fork_local()  # the task's own enqueue connection, if it opened one: a clean goodbye
    _flush_standard_streams()
    os._exit(code)


def _run_one(
    runtime: Runtime, row: dict[str, Any], hooks: Hooks, limits: Limits, *, init: bool
) -> dict[str, Any]:
    """One task in this child: its output tagged, child_init first if `init` (once per
    process), the task in its tracing span, secrets redacted from the report."""
    tag_standard_streams(int(row["id"]))
    # On this task's JSON log lines: a child of the fork server was forked before the worker
    # registered (pq/worker/forkserver.py), so it did not inherit the id.
    logs.process_fields["worker_id"] = row["worker_id"]
    report = _child_init(hooks) if init else None  # e.g. tracing exporters, after the fork
    if report is not None:
        return _redacted(report, runtime)
    with tracing.consumer_span(row) as span:
        report = _redacted(_execute(runtime, row, hooks, limits), runtime)
        tracing.end_consumer(span, report)
    return report


def run_spare(
    runtime: Runtime,
    handoff_fd: int,
    write_fd: int,
    hooks: Hooks,
    *,
    parent: int,
    served: bool = False,
) -> NoReturn:
    """A spare: forked before its task existed, it waits on its handoff pipe for one row,
    runs it exactly as run_child would, reports and exits. EOF instead of a row (the parent
    retired it, stopped, or died) means exit at once.

    `served`: a child of the fork server (pq/worker/forkserver.py), forked ahead. It becomes
    independent only once it has its row, so that until then it is no task's process (it
    keeps the server's process group, and ignores the stop signals as the server does: it
    exits when the worker drops its pipe, or dies with the server)."""
    code = 0
    try:
        if served:
            _die_with(parent)
        else:
            _become_independent(parent)
        received = receive(handoff_fd)
        if received is not None:
            if served:
                _become_independent(parent, armed=True)
            row, limits = received
            _write_all(write_fd, encode_report(_run_one(runtime, row, hooks, limits, init=True)))
            tracing.flush()
    except BaseException:  # nothing may escape: the stack above us is the parent's loop
        code = EXIT_REPORT_FAILED
    close_fork_local()  # the task's own enqueue connection, if it opened one: a clean goodbye
    _flush_standard_streams()
    os._exit(code)


def run_reusable(
    runtime: Runtime, handoff_fd: int, write_fd: int, hooks: Hooks, tasks: int, *, parent: int
) -> NoReturn:
    """A reused child (tasks_per_child > 1): runs up to `tasks` rows handed to it one after
    another, each report framed and carrying the CPU and peak RSS this task saw; the last
    report says it is the last, so the parent never hands it another row. It leaves early
    when its peak RSS grew past the task's max_memory, or on EOF."""
    code = 0
    try:
        _become_independent(parent)
        for n in range(1, tasks + 1):
            received = receive(handoff_fd)
            if received is None:
                break
            row, limits = received
            before = resource.getrusage(resource.RUSAGE_SELF)
            report = _run_one(runtime, row, hooks, limits.reused(before), init=n == 1)
            after = resource.getrusage(resource.RUSAGE_SELF)
            grown = limits.max_memory is not None and after.ru_maxrss * 1024 > limits.max_memory
            report["usage"] = [
                after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                after.ru_maxrss,
            ]
            report["last"] = n == tasks or grown
            _flush_standard_streams()
            _write_all(write_fd, frame(encode_report(report)))
            tracing.flush()
            if report["last"]:
                break
    except BaseException:  # nothing may escape: the stack above us is the parent's loop
        code = EXIT_REPORT_FAILED
    close_fork_local()  # the task's own enqueue connection, if it opened one: a clean goodbye
    _flush_standard_streams()
    os._exit(code)


def encode_report(report: dict[str, Any]) -> bytes:
    """The report as the parent reads it: one JSON object."""
    if report.get("ok") and report.get("result") is None and len(report) == 2:
        return _SUCCESS_NONE
    return _payload_of(report)


def _payload_of(report: dict[str, Any]) -> bytes:
    """The report as it goes down the pipe, or a failure when it could never be stored."""
    try:
        payload = _encoded(report)
    except (TypeError, ValueError) as exc:
        return json.dumps(_failure(OutcomeKind.EXCEPTION, exc)).encode()
    if len(payload) > MAX_RESULT_BYTES:
        # Checked here, before the parent reads it, keeps it or sends it: Postgres refuses a
        # value over 256 MiB, and a result that size belongs in object storage anyway.
        too_large = SerializationError(
            f"result too large: {len(payload) / 2**20:.1f} MiB (pq stores at most "
            f"{MAX_RESULT_BYTES / 2**20:g} MiB); store big results elsewhere and return a "
            "reference"
        )
        return json.dumps({"ok": False, "kind": "exception", "error": str(too_large)}).encode()
    return payload


def _encoded(report: dict[str, Any]) -> bytes:
    """One JSON object; a large result instead follows the rest of the report after a
    newline (which json.dumps never writes), so that the parent can keep it as the bytes it
    came in and record it without decoding it (pq/store/staging.py)."""
    if not report.get("ok"):
        return json.dumps(report).encode()
    result = json.dumps(report.get("result")).encode()
    head = json.dumps({k: v for k, v in report.items() if k != "result"}).encode()
    if len(result) >= RAW_RESULT_BYTES:
        return head + b"\n" + result
    return head[:-1] + b', "result": ' + result + b"}"


def _redacted(report: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    if isinstance(report.get("error"), str):  # read by anyone who can read the row or span
        # ... and stored in a text column: no secret, no NUL, no lone surrogate
        report["error"] = storable_text(redact(report["error"], runtime.database_url()))
    return report


def _child_init(hooks: Hooks) -> dict[str, Any] | None:
    """Runs the child_init hook; a failure is the attempt's report (the task does not run)."""
    if hooks.child_init is None:
        return None
    try:
        _call(hooks.child_init)
    except BaseException as exc:
        report = _failure(OutcomeKind.EXCEPTION, exc)
        report["error"] = "child_init hook failed, the task did not run:\n" + report["error"]
        return report
    return None


def _flush_standard_streams() -> None:
    # os._exit skips the interpreter's own flush, so print() output of the task would be lost
    # when stdout is a pipe or a file. The parent flushed before forking, so what is buffered
    # here was written by this child alone and is not printed twice.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _become_independent(parent: int, *, armed: bool = False) -> None:
    # Own process group: a timeout kills the task's subprocesses along with it.
    os.setpgid(0, 0)
    # And the root of its tree: orphans of its subprocesses come back to it, so a deadline
    # kill finds them however they regrouped (pq/worker/tree.py).
    become_subreaper()
    if not armed:  # (a child of the fork server armed it first thing: run_spare served)
        _die_with(parent)
    # The parent's handlers (stop flags, the wakeup pipe) mean nothing here; a SIGTERM sent to
    # the child must end it, and its signals must not wake the parent's loop.
    signal.set_wakeup_fd(-1)
    for signum in _PARENT_SIGNALS:
        _signal.signal(signum, _signal.SIG_DFL)


def _die_with(parent: int) -> None:
    """A child never outlives its worker: nobody would enforce its max_runtime, and after
    the rescue a retry (or an upserted version) would run beside it."""
    if prctl is not None:  # looked up once, in the parent (pq/worker/tree.py)
        # prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills us when the parent exits.
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    else:  # no parent-death signal: a watchdog thread notices re-parenting instead
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(EXIT_REPORT_FAILED)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)


def _execute(runtime: Runtime, row: dict[str, Any], hooks: Hooks, limits: Limits) -> dict[str, Any]:
    try:
        # Before anything of the task's runs, decoding its arguments included.
        limits.apply()
        # The hooks get a Task; without hooks the row is read as it is (no validation cost).
        task = Task.model_validate(row) if hooks.pre_execute or hooks.post_execute else None
        args, kwargs = row["args"], row["kwargs"]
        if not isinstance(args, list) or not isinstance(kwargs, dict):  # untrusted row
            raise TypeError("the row's args must be a JSON array and its kwargs an object")
        # Nothing of a row written without the secret_key runs, its function's import included.
        runtime.codec.verify_row(row["name"], args, kwargs, row["options"])
        fn = runtime.registry.resolve(row["name"])
        args, kwargs = runtime.codec.decode_arguments(args, kwargs)
        args, kwargs = restore_arguments(fn, args, kwargs)
    except BaseException as exc:
        return _failure(OutcomeKind.EXCEPTION, exc)
    try:
        if hooks.pre_execute is not None:
            _call(hooks.pre_execute, task)
    except BaseException as exc:
        # The task never started: say so, so the error is not mistaken for the task's own.
        report = _failure(OutcomeKind.EXCEPTION, exc)
        report["error"] = _run_post_hook(
            hooks, task, exc, "pre_execute hook failed, the task did not run:\n" + report["error"]
        )
        return report
    try:
        result = _call(fn, *args, **kwargs)
        encoded = runtime.codec.encode_value(result, what="the return value")
    except BaseException as exc:
        report = _failure_of(exc, limits)
        report["error"] = _run_post_hook(hooks, task, exc, report["error"])
        return report
    hook_error = _run_post_hook(hooks, task, None, None)
    if hook_error is not None:
        return {"ok": False, "kind": OutcomeKind.EXCEPTION.value, "error": hook_error}
    return {"ok": True, "result": encoded}


def _run_post_hook(
    hooks: Hooks, task: Task | None, error: BaseException | None, text: str | None
) -> str | None:
    """Runs post_execute; its own failure is appended to the task's error text."""
    if hooks.post_execute is None:
        return text
    try:
        _call(hooks.post_execute, task, error)
    except BaseException:
        hook_text = "post_execute hook failed:\n" + traceback.format_exc()
        return f"{text}\n{hook_text}" if text else hook_text
    return text


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    return result


def _failure_of(exc: BaseException, limits: Limits) -> dict[str, Any]:
    if isinstance(exc, Retry):
        when = "" if exc.countdown is None else f" in {exc.countdown:g}s"
        return {
            "ok": False,
            "kind": OutcomeKind.EXCEPTION.value,
            "error": f"pq.Retry: {exc}; retry requested{when}",
            "retry": True,
            "retry_countdown": exc.countdown,
        }
    if isinstance(exc, MemoryError):
        # The frames still hold what the task allocated; free it so formatting the traceback
        # does not hit the limit again.
        traceback.clear_frames(exc.__traceback__)
        report = _failure(OutcomeKind.MEMORY, exc)
        report["error"] = f"{limits.memory_message()}\n{report['error']}"
        return report
    return _failure(OutcomeKind.EXCEPTION, exc)


def _failure(kind: OutcomeKind, exc: BaseException) -> dict[str, Any]:
    text = "".join(traceback.format_exception(exc))
    return {"ok": False, "kind": kind.value, "error": text}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
