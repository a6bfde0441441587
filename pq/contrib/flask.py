"""pq in a Flask application, extension style:

    queue = PQ()                  # in a module your tasks import (tasks need it at import)
    pq_ext = FlaskPQ(queue)

    def create_app() -> Flask:
        app = Flask(__name__)
        pq_ext.init_app(app)      # app.extensions["pq"], `flask pq ...`, PQ_* config keys
        return app

init_app reads `PQ_MIGRATE` (apply pq's migrations now; fine for one instance, else run
`flask pq migrate` at deploy) and `PQ_QUEUES` (what `flask pq worker` takes without -q), and
adds the `flask pq` command: `flask --app myapp pq worker -c 4`, `flask pq tasks`, ...
The producer pool opens on first use and is closed at interpreter exit.
"""

from __future__ import annotations

import atexit
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from pq import PQ
from pq.contrib.command import run_pq, with_app

APP_SPEC = "pq.contrib.flask:current_queue"


class FlaskPQ:
    """The extension object; `init_app` may be called for several Flask apps."""

    def __init__(self, queue: PQ, app: Flask | None = None) -> None:
        self.queue = queue
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["pq"] = self
        if app.config.get("PQ_MIGRATE"):
            self.queue.run_db_migrations()
        app.cli.add_command(pq_command)
        atexit.register(self.queue.close)


def get_queue() -> PQ:
    """The PQ of the current Flask app (inside an app or request context)."""
    extension = current_app.extensions.get("pq")
    if not isinstance(extension, FlaskPQ):
        raise RuntimeError("this Flask app has no FlaskPQ: call FlaskPQ(queue).init_app(app)")
    return extension.queue


@click.command(
    "pq",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def pq_command(args: tuple[str, ...]) -> None:
    """Runs the pq command (worker, migrate, tasks, ...) on this app's pq."""
    queues = current_app.config.get("PQ_QUEUES", ())
    status = run_pq(with_app(args, APP_SPEC, queues), "flask pq")
    if status:
        raise SystemExit(status)


def __getattr__(name: str) -> Any:
    # The APP that `flask pq` hands the pq command: found through the app context that
    # Flask's command line sets up.
    if name == "current_queue":
        return get_queue()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FlaskPQ", "get_queue"]
