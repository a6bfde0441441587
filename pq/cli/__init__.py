"""The `pq` command. It parses arguments and calls the library; the logic lives elsewhere."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
import typer.core

from pq._version import __version__
from pq.cli import dashboard as dashboard_command
from pq.cli import doctor as doctor_command
from pq.cli import metrics as metrics_command
from pq.cli import ops
from pq.cli.common import AppArg, clear_errors, configure_logging
from pq.cli.loader import load_app, load_callable
from pq.store import embedded

cli = typer.Typer(
    name="pq",
    help="pq: a Postgres task queue whose worker forks a child per task.",
    no_args_is_help=True,
    add_completion=True,  # pq --install-completion (bash, zsh, fish, powershell)
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(
    help="Manage the embedded development Postgres (under ./.pq/).", no_args_is_help=True
)
cli.add_typer(db_cli, name="db")
periodic_cli = typer.Typer(
    help="List, pause, resume or run the periodic schedules of an app.", no_args_is_help=True
)
cli.add_typer(periodic_cli, name="periodic")
ops.register(cli)  # tasks, task, workers, stats, retry, cancel, purge, queue
dashboard_command.register(cli)  # dashboard
metrics_command.register(cli)  # metrics
doctor_command.register(cli)  # doctor

# The names the rest of this module has always used.
_clear_errors = clear_errors
_configure_logging = configure_logging


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pq {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        Optional[bool],  # noqa: UP045 (typer needs Optional at runtime on 3.11)
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """pq: a Postgres task queue whose worker forks a child per task."""


@cli.command()
def worker(
    app: AppArg,
    priority: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--priority",
            "-p",
            metavar="PRIORITY",
            help="Only take this priority (name or 0-100); repeatable.",
        ),
    ] = None,
    queue: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--queue",
            "-q",
            "-Q",
            metavar="QUEUE",
            help="Take tasks from this queue; repeatable. Default: default.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", metavar="N", min=1, help="Children at once.")
    ] = 1,
    max_runtime: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            metavar="SECONDS", help="Kill a task after this many seconds unless it sets its own."
        ),
    ] = None,
    poll_interval: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            metavar="SECONDS", help="Seconds between polls when no notice arrives. Default 1."
        ),
    ] = None,
    burst: Annotated[
        bool,
        typer.Option(
            "--burst",
            help="Exit once nothing is left to run, after waiting for the retries of the tasks "
            "it ran (their backoff).",
        ),
    ] = False,
    poll_only: Annotated[
        bool, typer.Option("--poll-only", help="Do not LISTEN at all: poll every poll interval.")
    ] = False,
    listen_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="URL",
            help="Direct database URL to LISTEN on when PQ_DATABASE_URL goes through PgBouncer "
            "(env PQ_LISTEN_URL).",
        ),
    ] = None,
    max_memory: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="SIZE",
            help="Memory limit of each child, e.g. 512MiB (tasks may set their own).",
        ),
    ] = None,
    max_cpu: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            metavar="SECONDS", help="CPU seconds limit of each child (tasks may set their own)."
        ),
    ] = None,
    drain_timeout: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            metavar="SECONDS", help="On SIGTERM, seconds running tasks get to finish. Default 30."
        ),
    ] = None,
    lease: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            metavar="SECONDS", help="Seconds without a heartbeat before this worker counts as lost."
        ),
    ] = None,
    heartbeat_interval: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            metavar="SECONDS", help="Seconds between heartbeats (and rescue checks). Default 5."
        ),
    ] = None,
    prefetch: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            metavar="N",
            min=0,
            help="Rows claimed ahead of free slots, started without a round trip as children "
            "end. Default: the concurrency; 0 claims only for free slots.",
        ),
    ] = None,
    spares: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            metavar="N",
            min=0,
            help="Children forked ahead, waiting for a task (each still runs exactly one): "
            "a new task starts without a fork. Default 0.",
        ),
    ] = None,
    tasks_per_child: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            metavar="N",
            min=1,
            help="Tasks one child may run in a row (tasks may set their own): faster for "
            "tiny tasks, but a task sees what earlier ones left in the process. Default 1.",
        ),
    ] = None,
    fork_server: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--fork-server/--no-fork-server",
            help="Fork the fresh children from a fork server beside the worker loop (Linux; "
            "PQ_FORK_SERVER). Default off.",
        ),
    ] = None,
    pre_execute: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="MODULE:FN", help="module:function run in the child before each task."
        ),
    ] = None,
    post_execute: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(metavar="MODULE:FN", help="module:function run in the child after each task."),
    ] = None,
    child_init: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="MODULE:FN",
            help="module:function run in each child right after the fork (e.g. to set up "
            "OpenTelemetry exporters, whose threads do not survive a fork).",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO",
    log_format: Annotated[
        str,
        typer.Option(
            metavar="FORMAT",
            help="text, or json: one object per line (task id, name, attempt, queue, "
            "outcome, duration, peak RSS); tasks' own output too.",
        ),
    ] = "text",
    metrics_port: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            metavar="PORT",
            help="Serve this worker's Prometheus metrics on PORT (needs the metrics extra).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(metavar="HOST", help="Address of the metrics port.")
    ] = "0.0.0.0",
) -> None:
    """Run a worker: claim tasks and run each one in its own forked child."""
    from pq.telemetry.logs import FORMATS
    from pq.worker.loop import Hooks, build_worker_settings

    if log_format not in FORMATS:
        raise typer.BadParameter(f"{log_format!r}: use text or json", param_hint="--log-format")
    _configure_logging(log_level, log_format)
    with _clear_errors():
        pq_app = load_app(app)
        hooks = Hooks(
            load_callable(pre_execute, "--pre-execute") if pre_execute else None,
            load_callable(post_execute, "--post-execute") if post_execute else None,
            load_callable(child_init, "--child-init") if child_init else None,
        )
        # A bad value (priority, size, ...) is a ConfigurationError: one line, exit 1.
        settings = build_worker_settings(
            priorities=set(priority) if priority else None,
            queues=queue,
            concurrency=concurrency,
            max_runtime=max_runtime,
            poll_interval=poll_interval,
            burst=burst,
            poll_only=poll_only,
            listen_url=listen_url,
            max_memory=max_memory,
            max_cpu=max_cpu,
            drain_timeout=drain_timeout,
            lease=lease,
            heartbeat_interval=heartbeat_interval,
            prefetch=prefetch,
            spares=spares,
            tasks_per_child=tasks_per_child,
            fork_server=fork_server,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
        pq_app.run_worker_with(settings, hooks, upgrade_hint=f"pq migrate {app}")


@cli.command()
def migrate(app: AppArg) -> None:
    """Create or upgrade pq's tables in the app's database."""
    _configure_logging("WARNING")
    with _clear_errors():
        applied = load_app(app).run_db_migrations()
    if applied:
        for migration in applied:
            typer.echo(f"applied {migration.version:04d}_{migration.name}")
    else:
        typer.echo("schema is up to date")


@db_cli.command("start")
def db_start() -> None:
    """Start the embedded Postgres (it keeps running until `pq db stop`)."""
    with _clear_errors():
        url = embedded.ensure_started()
    typer.echo(f"embedded Postgres running: {url}")


@db_cli.command("stop")
def db_stop() -> None:
    """Stop the embedded Postgres."""
    with _clear_errors():
        stopped = embedded.stop()
    typer.echo("stopped" if stopped else "not running")


@db_cli.command("status")
def db_status() -> None:
    """Say whether the embedded Postgres runs, where its data lives and its URL."""
    with _clear_errors():
        state = embedded.status()
    if state.running:
        typer.echo(f"running (pid {state.pid}), data in {state.data_dir}\nurl: {state.url}")
    else:
        typer.echo(f"not running, data in {state.data_dir}")
        raise typer.Exit(3)


@db_cli.command("url")
def db_url() -> None:
    """Print the embedded Postgres URL (starting it if needed), e.g. for PQ_DATABASE_URL."""
    with _clear_errors():
        typer.echo(embedded.ensure_started())


ScheduleName = Annotated[
    str, typer.Argument(help="The schedule's task: 'module:function', or just 'function'.")
]
KeyOption = Annotated[str, typer.Option("--key", "-k", help="The schedule's key.")]


@periodic_cli.command("list")
def periodic_list(app: AppArg) -> None:
    """Show every schedule: name, key, timing, next and last run, and whether it is active."""
    from pq.periodic.api import schedule_table

    with _clear_errors():
        schedules = load_app(app).list_schedules()
    typer.echo(schedule_table(schedules) if schedules else "no schedules")


@periodic_cli.command("pause")
def periodic_pause(app: AppArg, name: ScheduleName, key: KeyOption = "") -> None:
    """Stop a schedule from enqueuing runs; it stays paused across worker restarts."""
    with _clear_errors():
        schedule = load_app(app).pause_schedule(name, key=key)
    typer.echo(f"paused {schedule.name} (key {schedule.key!r})")


@periodic_cli.command("resume")
def periodic_resume(app: AppArg, name: ScheduleName, key: KeyOption = "") -> None:
    """Let a paused schedule run again from its next slot."""
    with _clear_errors():
        schedule = load_app(app).resume_schedule(name, key=key)
    typer.echo(
        f"resumed {schedule.name} (key {schedule.key!r}), next run {schedule.next_run.isoformat()}"
    )


@periodic_cli.command("run-now")
def periodic_run_now(app: AppArg, name: ScheduleName, key: KeyOption = "") -> None:
    """Enqueue one run of a schedule now, without moving its timing."""
    with _clear_errors():
        task_id = load_app(app).run_schedule_now(name, key=key)
    typer.echo(f"enqueued task {task_id}")


def _plain_metavars(command: Any) -> None:
    """Help reads like Celery's and RQ's (`--burst`, `-q QUEUE`), not `<bool>`/`<list[str]>`:
    flags show no value, arguments their name only, other options an upper-case name."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif isinstance(param, typer.core.TyperArgument):
            # typer prints an argument's Python type beside its name; the name says enough
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010
        elif param.metavar is None and param.name:
            param.metavar = param.name.upper()
    help_option = command.get_help_option

    def plain_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    setattr(command, "get_help_option", plain_help_option)  # noqa: B010
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


def main() -> None:
    command = typer.main.get_command(cli)
    _plain_metavars(command)
    command(prog_name="pq")
