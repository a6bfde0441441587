"""Running the `pq` command from a framework's own command line (`manage.py pq ...`,
`flask pq ...`) on an app the framework knows, so the user never types the APP argument."""

from __future__ import annotations

import sys
from collections.abc import Sequence

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
    """Runs `pq ARGS` in this process; returns its exit status. Errors are printed as `pq`
    prints them (usage errors give status 2, pq's own errors status 1)."""
    import typer.main

    from pq.cli import cli

    command = typer.main.get_command(cli)
    try:
        # Standalone mode prints usage errors and aborts as the `pq` command does, whatever
        # click Typer is built on, and always ends in SystemExit with the status.
        command.main(args=list(args), prog_name=prog_name, standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0
