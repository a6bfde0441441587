"""Operator commands: `pq tasks`, `pq task`, `pq workers`, `pq stats` (read) and `pq retry`,
`pq cancel`, `pq purge`, `pq queue pause|resume|list` (write). They parse and print; the
queries and the rules live in pq/ops (shared with the dashboard)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import Progress

from pq.app import PQ
from pq.cli.common import (
    AppArg,
    JsonOption,
    YesOption,
    clear_errors,
    configure_logging,
    parse_duration,
    print_json,
)
from pq.cli.loader import load_app
from pq.cli.render import stats_table, task_detail, tasks_table, workers_table

queue_cli = typer.Typer(
    help="Pause, resume or list paused queues (for the whole fleet).", no_args_is_help=True
)

StatusOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 (typer needs Optional at runtime on 3.11)
    typer.Option(
        "--status",
        "-s",
        metavar="STATUS",
        help="pending, running, completed, failed or cancelled; repeatable.",
    ),
]
QueueOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--queue", "-q", "-Q", metavar="QUEUE", help="Only this queue; repeatable."),
]
NameOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--name", "-n", metavar="NAME", help="Task name, full or its last part."),
]


def _console() -> Console:
    return Console(highlight=False)


def _open(app: str) -> PQ:
    configure_logging("WARNING")
    return load_app(app)


def _confirm(question: str, count: int, yes: bool, noun: str = "tasks") -> None:
    """Asks before touching more than one task (unless --yes); aborts on no."""
    if count > 1 and not yes:
        typer.confirm(f"{question} ({count} {noun})?", abort=True, err=True)


@contextmanager
def _progress(total: int, what: str, shown: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for long batch operations (a no-op for small ones)."""
    if not shown or total < 2000:
        yield None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task(what, total=total)
        yield lambda n: bar.advance(job, n)


def tasks(
    app: AppArg,
    status: StatusOpt = None,
    queue: QueueOpt = None,
    name: NameOpt = None,
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(metavar="AGE", help="Only tasks created within, e.g. 15m, 1h, 2d."),
    ] = None,
    before: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(metavar="ID", help="Next page: tasks older than this id."),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, help="At most N tasks.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List tasks, newest first, with filters (e.g. --status failed --since 1h)."""
    with clear_errors():
        found = _open(app).list_tasks(
            status=status,
            queue=queue,
            name=name,
            since=parse_duration(since) if since else None,
            before_id=before,
            limit=limit,
        )
    if as_json:
        print_json(found)
    elif not found:
        typer.echo("no tasks match")
    else:
        console = _console()
        console.print(tasks_table(found))
        if len(found) == limit:
            console.print(f"more: pq tasks {app} ... --before {found[-1].id}", style="dim")


def task(
    app: AppArg,
    task_id: Annotated[int, typer.Argument(metavar="ID", help="The task id.")],
    as_json: JsonOption = False,
) -> None:
    """Show one task: its row, arguments, every attempt, the last error and the result."""
    with clear_errors():
        found = _open(app).get_task(task_id)
    if found is None:
        typer.echo(f"pq: error: task {task_id} does not exist (was it cleared?)", err=True)
        raise typer.Exit(1)
    if as_json:
        print_json(found)
    else:
        _console().print(task_detail(found))


def workers(
    app: AppArg,
    as_json: JsonOption = False,
) -> None:
    """Show live and lost workers, and those that stopped in the last hour."""
    with clear_errors():
        found = _open(app).list_workers()
    if as_json:
        print_json(found)
    elif not found:
        typer.echo("no workers")
    else:
        _console().print(workers_table(found))


def stats(
    app: AppArg,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh in place.")] = False,
    interval: Annotated[
        float, typer.Option(metavar="SECONDS", min=0.2, help="Refresh period with --watch.")
    ] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Per queue and priority: due, scheduled later, running, oldest due age, recent ends,
    failure rate and p50/p95 run time."""
    with clear_errors():
        pq_app = _open(app)
        if as_json:
            print_json(pq_app.queue_stats())
            return
        if not watch:
            _console().print(stats_table(pq_app.queue_stats()))
            return
        with Live(stats_table(pq_app.queue_stats()), console=_console()) as live:
            try:
                while True:
                    time.sleep(interval)
                    live.update(stats_table(pq_app.queue_stats()))
            except KeyboardInterrupt:
                pass


def retry(
    app: AppArg,
    ids: Annotated[
        Optional[list[int]],  # noqa: UP045
        typer.Argument(metavar="ID", help="Failed or cancelled tasks to run again."),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Retry every failed task (with the filters).")
    ] = False,
    name: NameOpt = None,
    queue: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--queue", "-q", "-Q", metavar="QUEUE", help="Only this queue."),
    ] = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run failed (or cancelled) tasks again, keeping their history: IDs, or --failed."""
    if not ids and not failed:
        typer.echo("pq: error: give task ids, or --failed to retry failed tasks", err=True)
        raise typer.Exit(2)
    with clear_errors():
        pq_app = _open(app)
        count = len(ids) if ids else pq_app.count_tasks(status="failed", queue=queue, name=name)
        _confirm("Retry these tasks", count, yes)
        with _progress(count, "retrying", not as_json) as progress:
            done = pq_app.retry(
                ids or None, failed=failed, name=name, queue=queue, progress=progress
            )
    if as_json:
        print_json({"retried": done})
    else:
        typer.echo(f"retried {done} task(s)")


def cancel(
    app: AppArg,
    ids: Annotated[list[int], typer.Argument(metavar="ID", help="Tasks (or workflows) to cancel.")],
    workflow: Annotated[
        bool,
        typer.Option(
            "--workflow",
            help="The IDs are workflow ids (a task's workflow_id): cancel every unfinished "
            "task of each chain, group or chord, and let no later step start.",
        ),
    ] = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Cancel tasks: pending ones never run, running ones are stopped."""
    noun = "workflow(s)" if workflow else "task(s)"
    with clear_errors():
        pq_app = _open(app)
        plural = "workflows" if workflow else "tasks"
        _confirm(f"Cancel these {plural}", len(ids), yes, plural)
        if workflow:
            done = [i for i in ids if pq_app.cancel_workflow(i)]
        else:
            done = pq_app.cancel_many(ids)
    if as_json:
        print_json({"cancelled": done, "not_cancelled": [i for i in ids if i not in done]})
        return
    typer.echo(f"cancelled {len(done)} {noun}" + (f": {_ids(done)}" if done else ""))
    if skipped := [i for i in ids if i not in done]:
        typer.echo(f"not cancelled (already ended or unknown): {_ids(skipped)}")


def purge(
    app: AppArg,
    queue: Annotated[
        str, typer.Option("--queue", "-q", "-Q", metavar="QUEUE", help="The queue to purge.")
    ],
    status: Annotated[
        str,
        typer.Option(metavar="STATUS", help="pending, completed, failed or cancelled."),
    ] = "pending",
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Delete every task of a queue in one status (default: pending)."""
    with clear_errors():
        pq_app = _open(app)
        count = pq_app.count_tasks(status=status, queue=queue)
        _confirm(f"Delete the {status} tasks of queue {queue!r}", count, yes)
        with _progress(count, "purging", not as_json) as progress:
            done = pq_app.purge(queue, status=status, progress=progress)
    if as_json:
        print_json({"deleted": done})
    else:
        typer.echo(f"deleted {done} {status} task(s) of queue {queue!r}")


QueueArg = Annotated[str, typer.Argument(metavar="QUEUE", help="The queue.")]


@queue_cli.command("pause")
def queue_pause(app: AppArg, queue: QueueArg, as_json: JsonOption = False) -> None:
    """Stop every worker from claiming this queue (running tasks finish); survives restarts."""
    with clear_errors():
        changed = _open(app).pause_queue(queue)
    if as_json:
        print_json({"queue": queue, "paused": True, "changed": changed})
    else:
        typer.echo(f"paused queue {queue!r}" if changed else f"queue {queue!r} was already paused")


@queue_cli.command("resume")
def queue_resume(app: AppArg, queue: QueueArg, as_json: JsonOption = False) -> None:
    """Let workers claim from this queue again."""
    with clear_errors():
        changed = _open(app).resume_queue(queue)
    if as_json:
        print_json({"queue": queue, "paused": False, "changed": changed})
    else:
        typer.echo(f"resumed queue {queue!r}" if changed else f"queue {queue!r} was not paused")


@queue_cli.command("list")
def queue_list(app: AppArg, as_json: JsonOption = False) -> None:
    """List the paused queues."""
    with clear_errors():
        paused = _open(app).paused_queues()
    if as_json:
        print_json({"paused": paused})
    else:
        typer.echo("\n".join(f"{q} (paused)" for q in paused) if paused else "no paused queues")


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:20]))
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def register(cli: typer.Typer) -> None:
    """Adds the operator commands to the `pq` command."""
    for command in (tasks, task, workers, stats, retry, cancel, purge):
        cli.command()(command)
    cli.add_typer(queue_cli, name="queue")
