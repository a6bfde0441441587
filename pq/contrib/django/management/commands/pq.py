"""`python manage.py pq ...`: the `pq` command on the project's app, so no APP argument.

python manage.py pq worker -c 4          # = pq worker pq.contrib.django:app -c 4
python manage.py pq migrate
python manage.py pq tasks --status failed
"""

from __future__ import annotations

from typing import Any

import click
from django.core.management.base import BaseCommand, CommandError, CommandParser

APP = "pq.contrib.django:app"
GROUPS = {"periodic", "queue"}  # `pq periodic list APP ...`: APP after the subcommand
NO_APP = {"db", "--help", "-h", "--version"}
QUEUE_FLAGS = {"-q", "-Q", "--queue"}


def with_app(argv: list[str], default_queues: list[str]) -> list[str]:
    """The `pq` arguments for `manage.py pq ARGV`: the app inserted after the command path,
    and the PQ setting's queues for a worker started without -q."""
    if not argv or argv[0] in NO_APP:
        return argv
    depth = 2 if argv[0] in GROUPS and len(argv) > 1 and not argv[1].startswith("-") else 1
    args = [*argv[:depth], APP, *argv[depth:]]
    if argv[0] == "worker" and not any(a.split("=")[0] in QUEUE_FLAGS for a in argv):
        for name in default_queues:
            args += ["--queue", name]
    return args


class Command(BaseCommand):  # type: ignore[misc]
    help = "Runs the pq command (worker, migrate, tasks, ...) on this project's pq app."
    requires_system_checks = ()  # `pq migrate` must run while pq.W001 holds

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs="*", help="pq arguments, e.g. worker -c 4")

    def run_from_argv(self, argv: list[str]) -> None:
        # argv: [manage.py, pq, ...]; everything after `pq` belongs to the pq command, options
        # included, so Django's parser must not see them.
        self._run(argv[2:], f"{argv[0]} pq")

    def handle(self, *args: str, **options: Any) -> None:
        self._run(list(args), "manage.py pq")  # call_command("pq", "migrate")

    def _run(self, argv: list[str], prog_name: str) -> None:
        import typer.main

        from pq.cli import cli
        from pq.contrib.django import get_app

        args = with_app(argv, get_app().django_config.queues)
        command = typer.main.get_command(cli)
        try:
            command.main(args=args, prog_name=prog_name, standalone_mode=False)
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                raise CommandError(f"pq exited with status {exc.exit_code}") from None
        except click.ClickException as exc:
            exc.show()
            raise CommandError(exc.format_message()) from None
        except click.exceptions.Abort:
            raise CommandError("aborted") from None
