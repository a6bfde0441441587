"""Transactional enqueue with SQLAlchemy: the task commits or rolls back with your own rows.

    python examples/transactional_sqlalchemy.py

Uses PQ_DATABASE_URL when it is set, else the embedded development database (as `PQ()`
does). It places one order that commits and one that fails and rolls back, runs a worker in
this process until the queue is empty, and prints what happened. Exits 0 when the committed
order's receipt task ran and the rolled-back order left neither a row nor a task behind.
"""

from __future__ import annotations

import logging
import sys

import psycopg
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from pq import PQ, TaskStatus

QUEUE = "example-receipts"  # its own queue, so a shared database's other tasks are left alone

app = PQ()


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "example_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(100))


@app.task(queue=QUEUE)
def send_receipt(order_id: int, customer: str) -> str:
    # Runs in a forked child of the worker; a real one would render and send an email.
    return f"receipt for order {order_id} sent to {customer}"


def place_order(session: Session, customer: str) -> tuple[int, int]:
    """Writes the order and enqueues its receipt in the session's transaction."""
    # --8<-- [start:sqlalchemy]
    order = Order(customer=customer)
    session.add(order)
    session.flush()  # assigns order.id inside the transaction
    handle = send_receipt.apply_async(args=(order.id, customer), connection=session)
    # --8<-- [end:sqlalchemy]
    return order.id, handle.id


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    app.run_db_migrations()
    # SQLAlchemy on the same database as pq (any form of URL PQ accepts works here).
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(app.database_url)
    )
    Base.metadata.create_all(engine)

    # --8<-- [start:sqlalchemy-session]
    with Session(engine) as session, session.begin():  # commits at the end of the block
        kept_order, kept_task = place_order(session, "ada@example.com")
    # --8<-- [end:sqlalchemy-session]
    print(f"committed: order {kept_order}, receipt task {kept_task}")

    try:
        with Session(engine) as session, session.begin():
            lost_order, lost_task = place_order(session, "bob@example.com")
            raise RuntimeError("payment declined")  # rolls back the order and its task
    except RuntimeError as exc:
        print(f"rolled back ({exc}): order {lost_order}, receipt task {lost_task}")

    processed = app.run_worker(burst=True, queues=[QUEUE])
    print(f"worker ran {processed} task(s) and stopped (burst mode)")

    done = app.get_task(kept_task)
    print(
        f"task {kept_task}: {done.status if done else 'missing'}, result {done and done.result!r}"
    )
    with Session(engine) as session:
        lost_row = session.scalar(select(Order).where(Order.id == lost_order))
    lost = app.get_task(lost_task)
    print(
        f"rolled-back order row exists: {lost_row is not None}; its task exists: {lost is not None}"
    )

    app.close()
    engine.dispose()
    ok = done is not None and done.status is TaskStatus.COMPLETED
    return 0 if ok and lost_row is None and lost is None else 1


if __name__ == "__main__":
    sys.exit(main())
