"""Workflows and flow control: a chain, a group, a chord, nested canvases, a workflow started
from async code in the caller's transaction, a cancelled workflow, a global rate limit and a
per-key concurrency limit, run by one burst worker.

    python examples/workflows.py

With no PQ_DATABASE_URL set, pq starts its embedded development Postgres under ./.pq/.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

from pq import PQ, TaskStatus, WorkflowCancelledError, WorkflowFailedError, chain, chord, group
from pq.canvas import ChainHandle

app = PQ()


# --8<-- [start:tasks]
@app.task
def fetch(order_id: int) -> dict[str, int]:
    return {"order": order_id, "lines": order_id % 5 + 1}


@app.task
def price(order: dict[str, int], unit: int) -> int:
    return order["lines"] * unit


@app.task
def total(amounts: list[int]) -> int:
    return sum(amounts)


@app.task
def refuse(amount: int) -> int:
    raise ValueError(f"amount {amount} is over the limit")


# --8<-- [start:rate-task]
@app.task(rate_limit="5/s")  # or "100/m", "5/h", "1000/d", "10/30s"; across every worker
def call_partner_api(n: int) -> int:
    return n


# --8<-- [end:rate-task]


# --8<-- [start:key-task]
@app.task(max_concurrency_per_key=1)  # one task per concurrency_key at a time
def sync_customer(customer: str, step: int) -> str:
    time.sleep(0.05)
    return f"{customer}:{step}"


# --8<-- [end:key-task]


# --8<-- [end:tasks]


def canvases() -> None:
    # --8<-- [start:canvas]
    # chain: each step gets the previous step's result as its first argument
    priced = chain(fetch.s(7), price.s(unit=10)).delay()
    # group: all at once (one COPY); results come back in member order
    orders = group(fetch.s(i) for i in range(5)).delay()
    # chord: the callback gets the list of results once every member has completed
    summed = chord([price.s({"lines": n}, 3) for n in range(1, 5)], total.s()).delay()
    # a failed step stops its chain; the handle names it
    stopped = (fetch.s(1) | price.s(unit=1000) | refuse.s() | total.s()).delay()
    # --8<-- [end:canvas]
    app.run_worker(concurrency=2, burst=True)
    print("chain  ->", priced.result(timeout=30))
    print("group  ->", [o["lines"] for o in orders.results(timeout=30)])
    print("chord  ->", summed.result(timeout=30))
    try:
        stopped.result(timeout=30)
    except WorkflowFailedError as failure:
        print("failed ->", str(failure).split(";")[0])


def nesting() -> None:
    # --8<-- [start:nesting]
    # a group inside a chain: each member gets the previous result, and the list of their
    # results goes to the step after the group (Celery makes that a chord, and so does pq)
    fanned = chain(fetch.s(3), group(price.s(unit=10), price.s(unit=12)), total.s()).delay()
    # chains inside a group: each member's result is its chain's last result
    per_order = group(chain(fetch.s(n), price.s(unit=5)) for n in (1, 2, 3)).delay()
    # chains as a chord's members, and that chord as the first step of a chain
    invoiced = chain(
        chord([chain(fetch.s(n), price.s(unit=2)) for n in (4, 5)], total.s()),
        price.si({"lines": 1}, 99),  # .si(): ignores the chord's result
    ).delay()
    # a failed member of a group inside a chain stops the chain, as a chord does
    halted = chain(fetch.s(1), group(price.s(unit=1), refuse.si(5)), total.s()).delay()
    # --8<-- [end:nesting]
    app.run_worker(concurrency=2, burst=True)
    assert fanned.result(timeout=30) == 4 * 10 + 4 * 12
    assert per_order.results(timeout=30) == [10, 15, 20]
    assert invoiced.result(timeout=30) == 99
    print("nested ->", fanned.result(), per_order.results(), invoiced.result())
    try:
        halted.result(timeout=30)
    except WorkflowFailedError as failure:
        print("failed ->", str(failure).split(";")[0])


# --8<-- [start:async]
async def start_from_async_code(url: str, order_id: int) -> ChainHandle:
    """Starts a workflow in the caller's transaction on an async connection (psycopg's
    AsyncConnection here; asyncpg and SQLAlchemy's AsyncConnection/AsyncSession work too)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction():
            # ... the order's own rows, written on conn ...
            flow = chain(fetch.s(order_id), group(price.s(unit=10), price.s(unit=12)), total.s())
            handle = await flow.aapply_async(connection=conn)  # commits with the block
        return handle


# --8<-- [end:async]


def from_async() -> None:
    handle = asyncio.run(start_from_async_code(app.database_url, 9))
    app.run_worker(concurrency=2, burst=True)
    assert handle.result(timeout=30) == 5 * 10 + 5 * 12
    print("async  -> started in the caller's transaction, result", handle.result())


def cancelling() -> None:
    # --8<-- [start:cancel]
    order = chain(fetch.s(11), group(price.s(unit=10), price.s(unit=12)), total.s()).delay()
    order.cancel()  # pending tasks never run, running ones are stopped, no later step starts
    app.run_worker(burst=True)  # finds nothing of it to run
    try:
        order.result(timeout=30)
    except WorkflowCancelledError as cancelled:  # also a WorkflowFailedError
        print("cancel ->", type(cancelled).__name__, "-", str(cancelled).split(":")[0])
    # --8<-- [end:cancel]
    assert order.cancelled() and {t.status for t in order.tasks()} == {TaskStatus.CANCELLED}


def limits() -> None:
    # --8<-- [start:limits]
    calls = [call_partner_api.delay(n) for n in range(10)]  # 'waiting' until the limit allows
    extra = call_partner_api.apply_async((10,), rate_limit="10/s")  # a limit for this call
    syncs = [
        sync_customer.apply_async((customer, step), concurrency_key=customer)
        for customer in ("acme", "globex")
        for step in range(3)
    ]
    # --8<-- [end:limits]
    started = time.monotonic()
    app.run_worker(concurrency=4, burst=True)
    print(f"rate   -> 10 calls at 5/s took {time.monotonic() - started:.1f}s")
    assert [c.result(timeout=30) for c in calls] == list(range(10))
    assert extra.result(timeout=30) == 10
    print("keys   ->", [s.result(timeout=30) for s in syncs])


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app.run_db_migrations()
    canvases()
    nesting()
    from_async()
    cancelling()
    limits()
    app.close()


if __name__ == "__main__":
    main()
