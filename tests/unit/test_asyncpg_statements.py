"""The enqueue statements as asyncpg runs them: the same SQL files, their %(name)s parameters
turned into $n once per statement (pq.store.db_async.dollar_params), JSON sent as text."""

from __future__ import annotations

import re

import pytest

from pq.store.db_async import copy_target, dollar_params
from pq.store.queries import Queries
from pq.store.rows import NewTaskRow

ASYNC_STATEMENTS = [
    "task_insert",
    "task_upsert",
    "task_reserve_ids",
    "task_notify_queues",
    "flow_hold",
    "flow_notify",
]


@pytest.mark.parametrize("name", ASYNC_STATEMENTS)
def test_every_named_parameter_becomes_one_number(name: str) -> None:
    text = Queries("public").sql(name)
    converted, names = dollar_params(text)
    assert "%(" not in converted
    assert sorted(set(names)) == sorted(set(re.findall(r"%\((\w+)\)s", text)))
    numbers = {int(n) for n in re.findall(r"\$(\d+)", converted)}
    assert numbers == set(range(1, len(names) + 1))  # a name used twice keeps its number


def test_the_insert_takes_the_row_params_in_order_and_sends_json_as_text() -> None:
    converted, names = dollar_params(Queries("public").sql("task_insert"))
    row = NewTaskRow("t", "q", 50, "[1]", "{}", "{}", None, None, 1)
    assert set(names) == set(row.params("pq_public", True))  # nothing missing, nothing extra
    assert "::jsonb" in converted
    assert re.search(r"\$\d+::jsonb", converted) is None  # always $n::text::jsonb


def test_a_literal_percent_stays_one_percent() -> None:
    assert dollar_params("SELECT 'a%%' || %(x)s, %(x)s") == ("SELECT 'a%' || $1, $1", ("x",))


def test_a_statement_is_converted_once() -> None:
    text = Queries("another").sql("task_insert")
    assert dollar_params(text) is dollar_params(text)  # cached: not rebuilt per call


def test_the_bulk_copy_target_is_read_from_the_copy_statement() -> None:
    schema, table, columns = copy_target(Queries("my schema").sql("task_copy"))
    assert (schema, table) == ("my schema", "pq_tasks")
    assert columns[0] == "id" and "max_attempts" in columns
