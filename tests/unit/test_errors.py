"""pq.errors: one tree under PQError, documented, and the bad inputs of the task API that can
be refused without a database get a clear error before anything is written."""

from __future__ import annotations

import inspect
from datetime import datetime

import psycopg
import pytest

import pq.errors
from pq import PQ, ConfigurationError, PQError, TaskDefinitionError
from taskmods import funcs

ERRORS = [
    obj
    for obj in vars(pq.errors).values()
    if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == "pq.errors"
]


@pytest.fixture
def app() -> PQ:
    return PQ("postgresql://nobody@nowhere.invalid:1/none")  # never reached in these tests


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_every_error_is_a_pq_error_documented_in_the_tree(error: type[Exception]) -> None:
    assert issubclass(error, PQError)
    doc = inspect.getdoc(error) or ""
    assert doc.startswith("Raised when") and "\n" not in doc
    assert error.__name__ in (pq.errors.__doc__ or "")


def test_errors_that_mirror_builtin_kinds_are_also_those_kinds() -> None:
    assert issubclass(pq.errors.DuplicateClientIdError, psycopg.IntegrityError)
    assert issubclass(pq.errors.ResultTimeoutError, TimeoutError)
    assert issubclass(pq.errors.ConfigurationError, ValueError)


def test_a_lambda_passed_to_enqueue_is_refused_and_says_what_to_do(app: PQ) -> None:
    with pytest.raises(TaskDefinitionError, match="define it with `def` at module level"):
        app.enqueue(lambda: None)


def test_a_nested_function_cannot_be_a_task(app: PQ) -> None:
    def inner() -> None: ...

    with pytest.raises(TaskDefinitionError, match="move it to module level"):
        app.enqueue(inner)
    with pytest.raises(TaskDefinitionError):
        app.task(inner)


@pytest.mark.parametrize("priority", ["urgent", 101, -5, True, 1.5])
def test_a_bad_priority_is_a_configuration_error(app: PQ, priority: object) -> None:
    with pytest.raises(ConfigurationError, match="priority"):
        app.enqueue(funcs.noop, priority=priority)  # type: ignore[arg-type]


def test_a_naive_run_at_is_refused(app: PQ) -> None:
    with pytest.raises(ConfigurationError, match="no timezone"):
        app.enqueue(funcs.noop, run_at=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    "options",
    [{"retries": -1}, {"max_runtime": 0}, {"queue": ""}],
    ids=["negative-retries", "zero-runtime", "empty-queue"],
)
def test_bad_task_options_are_refused_at_decoration(app: PQ, options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        app.task(**options)(funcs.noop)  # type: ignore[arg-type]
