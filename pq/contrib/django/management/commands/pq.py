"""`python manage.py pq ...`: the `pq` command on the project's app, so no APP argument.

python manage.py pq worker -c 4          # = pq worker pq.contrib.django:app -c 4
python manage.py pq migrate
python manage.py pq tasks --status failed
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pq.contrib.command import run_pq, with_app

APP = "pq.contrib.django:app"


class Command(BaseCommand):  # type: ignore[misc]
    help = "Runs the pq command (worker, migrate, tasks, ...) on this project's pq app."
    requires_system_checks = ()  # `pq migrate` must run while pq.W001 holds

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs="*", help="pq arguments, e.g. worker -c 4")

    def run_from_argv(self, argv: list[str]) -> None:
        # argv: [manage.py, pq, ...]; everything after `pq` belongs to the pq command, options
        # included, so Django's parser must not see them. pq has printed any error already.
        status = self._run(argv[2:], f"{os.path.basename(argv[0])} pq")
        if status:
            sys.exit(status)

    def handle(self, *args: str, **options: Any) -> None:
        status = self._run(list(args), "manage.py pq")  # call_command("pq", "migrate")
        if status:
            raise CommandError(f"pq exited with status {status}", returncode=status)

    def _run(self, argv: list[str], prog_name: str) -> int:
        from pq.contrib.django import get_app

        return run_pq(with_app(argv, APP, get_app().django_config.queues), prog_name)
