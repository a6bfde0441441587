"""The example shop under pytest-django, on a real Postgres (the test database Django creates,
which `manage.py migrate` gives pq's tables too)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.test import Client
from shop.models import Order

from pq import TaskStatus
from pq.contrib.django import app

# transaction=True: the worker reads committed rows, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_an_order_and_its_receipt_task_commit_together_and_the_worker_runs_it() -> None:
    answer = Client().post("/orders", {"customer": "ada@example.com"})
    assert answer.status_code == 201
    order_id, task_id = answer.json()["order"], answer.json()["task"]
    assert app.get_task(task_id).status is TaskStatus.PENDING  # type: ignore[union-attr]

    assert app.run_worker(burst=True, queues=["shop"]) == 1  # forks; the child uses the ORM

    assert app.get_task(task_id).result == (  # type: ignore[union-attr]
        f"receipt for order {order_id} sent to ada@example.com"
    )
    assert Client().get(f"/orders/{order_id}").json()["receipt_sent"] is True


def test_a_rolled_back_order_leaves_neither_the_order_nor_its_task() -> None:
    tasks_before = app.count_tasks()
    answer = Client().post("/orders", {"customer": "bob@example.com", "card": "declined"})
    assert answer.status_code == 402
    assert Order.objects.count() == 0
    assert app.count_tasks() == tasks_before


def test_manage_py_pq_runs_the_pq_command_on_the_project_app(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("pq", "migrate")  # the test database got pq's tables with Django's
    assert "schema is up to date" in capsys.readouterr().out


def test_the_checks_report_a_bad_setting_and_missing_tables(settings: object) -> None:
    assert not [m for m in checks.run_checks(databases=["default"]) if m.id.startswith("pq.")]

    settings.PQ = {"database": "nowhere"}  # type: ignore[attr-defined]
    assert [m.id for m in checks.run_checks(tags=["pq"])] == ["pq.E001"]

    settings.PQ = {"schema": "never_migrated"}  # type: ignore[attr-defined]
    found = checks.run_checks(tags=["pq"], databases=["default"])
    assert [m.id for m in found] == ["pq.W001"]
    assert "has no pq tables" in found[0].msg


def test_the_admin_lists_tasks_read_only(admin_client: Client) -> None:
    Client().post("/orders", {"customer": "cy@example.com"})
    page = admin_client.get("/admin/pq/task/")
    assert page.status_code == 200
    assert b"shop.tasks:send_receipt" in page.content
    assert admin_client.get("/admin/pq/task/add/").status_code == 403
