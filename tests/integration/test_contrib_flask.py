"""pq.contrib.flask: init_app registers the extension, applies migrations when PQ_MIGRATE is
set, and adds `flask pq ...`, which runs the pq command on the app's queue with no APP."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from pq import PQ, SchemaOutdatedError
from pq.contrib.flask import FlaskPQ, get_queue
from taskmods import funcs


def test_init_app_migrates_and_flask_pq_runs_the_pq_command(empty_db_url: str) -> None:
    queue = PQ(empty_db_url)
    with pytest.raises(SchemaOutdatedError):
        queue.check_schema()

    app = Flask("shop")
    app.config.update(PQ_MIGRATE=True)
    FlaskPQ(queue).init_app(app)
    queue.check_schema()  # the tables exist now

    task_id = queue.task(funcs.add).delay(2, 3).id
    runner = app.test_cli_runner()
    assert "schema is up to date" in runner.invoke(args=["pq", "migrate"]).output
    listed = runner.invoke(args=["pq", "tasks", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [t["id"] for t in json.loads(listed.output)] == [task_id]
    with app.app_context():
        assert get_queue() is queue
    queue.close()


def test_flask_pq_reports_a_pq_error_as_pq_does(db_url: str) -> None:
    app = Flask("shop")
    FlaskPQ(PQ(db_url), app)
    failed = app.test_cli_runner().invoke(args=["pq", "task", "987654"])
    assert failed.exit_code == 1
    assert "987654" in failed.output


def test_get_queue_names_the_missing_extension() -> None:
    with Flask("bare").app_context(), pytest.raises(RuntimeError, match="FlaskPQ"):
        get_queue()
