"""Running the `pq` command from a framework's own command line (`manage.py pq ...`,
`flask pq ...`) on an app the framework knows, so the user never types the APP argument."""

from __future__ import annotations

from collections.abc import Sequence

import click

GROUPS = {"periodic", "queue"}  # `pq periodic list APP ...`: APP after the subcommand
NO_APP = {"db", "--help", "-h", "--version"}
QUEUE_FLAGS = {"-q", "-Q", "--queue"}


def with_app(argv: Sequence[str], app_spec: str, default_queues: Sequence[str] = ()) -> list[str]:
    """The `pq` arguments for `<framework> pq ARGV`: the app inserted after the command path,
    and `default_queues` for a worker started without -q."""
    argv = list(argv)
    if not argv or argv[0] in NO_APP:
        return argv
    depth = 2 if argv[0] in GROUPS and len(argv) > 1 and not argv[1].startswith("-") else 1
    args = [*argv[:depth], app_spec, *argv[depth:]]
    if argv[0] == "worker" and not any(a.split("=")[0] in QUEUE_FLAGS for a in argv):
        for name in default_queues:
            args += ["--queue", name]
    return args


def run_pq(args: Sequence[str], prog_name: str) -> int:
    """Runs `pq ARGS` in this process; returns its exit status. Usage errors are printed
    (as `pq` prints them) and give status 2."""
    import typer.main

    from pq.cli import cli

    command = typer.main.get_command(cli)
    try:
        # Outside standalone mode click returns the status of an Exit (typer.Exit(1) when a
        # command fails) instead of raising it; the commands themselves return None.
        status = command.main(args=list(args), prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return status if isinstance(status, int) else 0
