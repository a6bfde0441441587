"""The code of docs/testing.md, run end to end (CI runs every example, so the guide's code
cannot drift from what pq does): an application's own tests in eager mode, capture mode, and
against a real worker. Run here as plain functions; under pytest they are ordinary tests.

    python examples/testing_guide.py
"""

from __future__ import annotations

import logging

from pq import PQ, Priority, TaskHandle, TaskStatus

QUEUE = "guide-testing"  # its own queue, so a shared database's other tasks are left alone

app = PQ()


# -- the application under test ------------------------------------------------------------
@app.task(queue=QUEUE)
def send_receipt(cart: list[str]) -> str:
    return "sent" if cart else "nothing to send"


@app.task(queue="emails", priority=Priority.HIGH)
def send_email(to: str, subject: str) -> None: ...


@app.task(queue=QUEUE)
def charge_card(amount: int) -> None: ...


@app.task(queue=QUEUE)
def build_report(year: int) -> dict[str, int]:
    return {"year": year, "orders": 3}


def checkout(cart: list[str]) -> TaskHandle[str]:
    return send_receipt.delay(cart)


def signup(email: str) -> None:
    send_email.delay(email, subject="Welcome")


cart = ["book"]


# -- its tests, as docs/testing.md shows them ----------------------------------------------
# --8<-- [start:eager]
from pq.testing import eager  # noqa: E402


def test_checkout_sends_a_receipt() -> None:
    with eager(app) as enqueued:
        handle = checkout(cart)  # calls send_receipt.delay(...)
    assert handle.result() == "sent"
    assert enqueued.calls[0].status is TaskStatus.COMPLETED


# --8<-- [end:eager]

# --8<-- [start:capture]
from pq.testing import capture  # noqa: E402


def test_signup_enqueues_the_welcome_mail() -> None:
    with capture(app) as enqueued:
        signup("ada@example.com")
    enqueued.assert_enqueued(send_email, "ada@example.com", subject="Welcome")
    enqueued.assert_not_enqueued(charge_card)
    [call] = enqueued.of(send_email)
    assert call.queue == "emails" and call.priority == Priority.HIGH


# --8<-- [end:capture]


# --8<-- [start:worker]
def test_report_task_end_to_end(app: PQ) -> None:
    handle = build_report.delay(2026)
    app.run_worker(burst=True, queues=[QUEUE])  # runs until nothing is due, then returns
    assert handle.result(timeout=10) == {"year": 2026, "orders": 3}


# --8<-- [end:worker]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    test_checkout_sends_a_receipt()
    test_signup_enqueues_the_welcome_mail()
    app.run_db_migrations()  # the end-to-end test needs the tables (a fixture's job)
    test_report_task_end_to_end(app)
    app.close()
    print("the testing guide ran")


if __name__ == "__main__":
    main()
