"""Transactional enqueue from async code: a FastAPI endpoint writes an order with SQLAlchemy's
AsyncSession (asyncpg driver) and enqueues its receipt in the same transaction; the same with a
raw asyncpg connection. A committed order's task runs; a declined one leaves neither a row nor
a task.

    pip install 'pq-tasks[fastapi,asyncpg]' 'sqlalchemy[asyncio]' httpx
    python examples/transactional_async.py

Uses PQ_DATABASE_URL when it is set, else the embedded development database (as `PQ()`
does). It drives the API in-process with httpx, runs a worker in this process until the queue
is empty, prints what happened and exits 0 when every committed order's receipt ran and
nothing of the declined ones is left.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import asyncpg
import httpx
import psycopg
from fastapi import FastAPI, HTTPException
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pq import PQ

QUEUE = "example-async-receipts"  # its own queue, so a shared database's other tasks are left alone

queue = PQ()


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "example_async_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(100))


@queue.task(queue=QUEUE)
def send_receipt(order_id: int, customer: str) -> str:
    # Runs in a forked child of the worker; a real one would render and send an email.
    return f"receipt for order {order_id} sent to {customer}"


def asyncpg_params(url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for pq's database URL (a URL or libpq's key=value)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    given = {k: params[k] for k in ("host", "port", "user", "password") if params.get(k)}
    return {"database": params.get("dbname"), **given}


def make_api(engine: AsyncEngine) -> FastAPI:
    api = FastAPI()
    # --8<-- [start:fastapi]
    # engine = create_async_engine("postgresql+asyncpg://user@host/db")  # or +psycopg
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @api.post("/orders")
    async def place_order(customer: str, declined: bool = False) -> dict[str, int]:
        async with sessions.begin() as session:  # commits at the end, rolls back on raise
            order = Order(customer=customer)
            session.add(order)
            await session.flush()  # assigns order.id inside the transaction
            receipt = await send_receipt.aapply_async((order.id, customer), connection=session)
            if declined:  # the order and its receipt task roll back together
                raise HTTPException(402, f"payment declined (order {order.id})")
        return {"order": order.id, "task": receipt.id}

    # --8<-- [end:fastapi]
    return api


# --8<-- [start:asyncpg]
async def place_order_asyncpg(conn: asyncpg.Connection, customer: str) -> tuple[int, int]:
    async with conn.transaction():  # outside it asyncpg commits every statement at once
        order_id = await conn.fetchval(
            "INSERT INTO example_async_orders (customer) VALUES ($1) RETURNING id", customer
        )
        receipt = await send_receipt.aapply_async((order_id, customer), connection=conn)
    return order_id, receipt.id


# --8<-- [end:asyncpg]


async def drive(engine: AsyncEngine) -> tuple[list[int], list[int]]:
    """Places orders through the API and over a raw asyncpg connection; returns the committed
    and the rolled-back orders' task ids."""
    kept: list[int] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_api(engine)), base_url="http://shop"
    ) as client:
        placed = await client.post("/orders", params={"customer": "ada@example.com"})
        print(f"POST /orders -> {placed.status_code} {placed.json()}")
        kept.append(placed.json()["task"])
        declined = await client.post(
            "/orders", params={"customer": "bob@example.com", "declined": True}
        )
        print(f"POST /orders (declined) -> {declined.status_code} {declined.json()}")

    conn = await asyncpg.connect(**asyncpg_params(queue.database_url))
    try:
        order_id, task_id = await place_order_asyncpg(conn, "eve@example.com")
        print(f"asyncpg: order {order_id}, receipt task {task_id}")
        kept.append(task_id)
        lost: list[int] = []
        try:
            async with conn.transaction():
                receipt = await send_receipt.aapply_async(
                    (0, "mallory@example.com"), connection=conn
                )
                lost.append(receipt.id)
                raise RuntimeError("payment declined")
        except RuntimeError as exc:
            print(f"asyncpg: rolled back ({exc}): receipt task {lost[0]}")
    finally:
        await conn.close()
    return kept, lost


async def orders_of(engine: AsyncEngine) -> list[str]:
    async with async_sessionmaker(engine)() as session:
        return list(await session.scalars(select(Order.customer).order_by(Order.id)))


async def prepare() -> AsyncEngine:
    params = asyncpg_params(queue.database_url)
    engine = create_async_engine(
        "postgresql+asyncpg://", async_creator=lambda: asyncpg.connect(**params)
    )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)  # a rerun starts from no orders
        await conn.run_sync(Base.metadata.create_all)
    return engine


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    queue.run_db_migrations()

    async def placed() -> tuple[list[int], list[int], list[str]]:
        engine = await prepare()
        kept, lost = await drive(engine)
        customers = await orders_of(engine)
        await engine.dispose()
        return kept, lost, customers

    kept, lost, customers = asyncio.run(placed())
    # The worker forks its task children: it runs after the event loop has ended.
    processed = queue.run_worker(burst=True, queues=[QUEUE])
    print(f"worker ran {processed} task(s) and stopped (burst mode)")
    results = [getattr(queue.get_task(i), "result", None) for i in kept]
    print(f"committed orders' receipts: {results}")
    print(f"orders in the table: {customers}")
    left = [i for i in lost if queue.get_task(i) is not None]
    print(f"rolled-back receipt tasks left: {len(left)}")
    queue.close()
    ok = all(r and r.startswith("receipt for order") for r in results)
    ok = ok and customers == ["ada@example.com", "eve@example.com"] and not left
    return 0 if ok and processed == len(kept) else 1


if __name__ == "__main__":
    sys.exit(main())
