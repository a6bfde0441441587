"""pq in a FastAPI application: the pool opens and closes with the app, endpoints enqueue and
await results without blocking the event loop, a `pq worker` runs the tasks.

Serve it yourself, from this directory (two terminals):

    uvicorn fastapi_app:api
    pq worker fastapi_app:queue --queue example-fastapi
    curl -X POST 'localhost:8000/squares?n=12'          # -> {"task_id": 1}
    curl 'localhost:8000/squares/1?wait=10'              # -> {"status": "completed", "value": 506}

Or run `python examples/fastapi_app.py` (with httpx installed): it starts both as
subprocesses, drives the API with httpx, checks every answer, stops both and exits 0 (CI runs
it so). With no PQ_DATABASE_URL, pq uses its embedded development Postgres.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse

from pq import PQ, ResultTimeoutError, TaskFailedError, TaskHandle, TaskNotFoundError
from pq.contrib.fastapi import pq_lifespan

if TYPE_CHECKING:
    import httpx

# --8<-- [start:app]
QUEUE = "example-fastapi"  # its own queue, so a shared database's other tasks are left alone

queue = PQ()
# migrate=True suits one instance; with several, run `pq migrate fastapi_app:queue` at deploy.
api = FastAPI(lifespan=pq_lifespan(queue, migrate=True))


@queue.task(queue=QUEUE)
def sum_of_squares(n: int) -> int:
    if n < 0:
        raise ValueError(f"n={n}: give a count of 0 or more")
    return sum(i * i for i in range(n))


@api.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@api.post("/squares")
async def start(n: int) -> dict[str, int]:
    """Enqueues and answers at once with the task's id."""
    handle = await sum_of_squares.adelay(n)
    return {"task_id": handle.id}


@api.get("/squares/{task_id}")
async def outcome(task_id: int, wait: float = 0.0) -> JSONResponse:
    """The task's value, waiting up to `wait` seconds for it; 202 while it is not done."""
    try:
        value = await TaskHandle(queue, task_id).aresult(timeout=wait)
    except TaskNotFoundError:
        raise HTTPException(404, f"no task {task_id}") from None
    except ResultTimeoutError:
        return JSONResponse({"status": "pending"}, status_code=202)
    except TaskFailedError as exc:
        return JSONResponse({"status": "failed", "error": str(exc)}, status_code=422)
    return JSONResponse({"status": "completed", "value": value})


# --8<-- [start:await]
@api.post("/squares/now")
async def compute_now(n: int) -> dict[str, int]:
    """Enqueues and awaits the value in the same request (the loop serves others meanwhile)."""
    handle = await sum_of_squares.adelay(n)
    return {"value": await handle.aresult(timeout=30)}


# --8<-- [end:await]


# --8<-- [end:app]


# -- the self-check CI runs -------------------------------------------------------------------
HERE = Path(__file__).resolve().parent


def start_processes() -> tuple[list[subprocess.Popen[bytes]], str]:
    """`uvicorn fastapi_app:api` on a socket bound here (no port race) and a `pq worker`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    env = {**os.environ, "PQ_DATABASE_URL": queue.database_url, "PYTHONPATH": str(HERE)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_app:api",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "warning",
        ],
        cwd=HERE,
        env=env,
        pass_fds=(sock.fileno(),),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "pq", "worker", "fastapi_app:queue", "-q", QUEUE, "-c", "2"],
        cwd=HERE,
        env=env,
    )
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # the server holds its own copy
    return [server, worker], base_url


async def wait_for_server(client: httpx.AsyncClient) -> None:
    import httpx

    for _ in range(300):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not answer within 30 s")


async def drive(base_url: str) -> None:
    import httpx  # the self-check's client (pip install httpx); serving needs only the app

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await wait_for_server(client)

        task_id = (await client.post("/squares", params={"n": 12})).json()["task_id"]
        done = await client.get(f"/squares/{task_id}", params={"wait": 30})
        print(f"POST /squares?n=12 -> task {task_id}; GET -> {done.status_code} {done.json()}")
        assert done.json() == {"status": "completed", "value": 506}, done.text

        # Ten requests at once, each awaiting its own task: one event loop serves them all.
        answers = await asyncio.gather(
            *(client.post("/squares/now", params={"n": n}) for n in range(10))
        )
        values = [a.json()["value"] for a in answers]
        print(f"10 concurrent POST /squares/now -> {values}")
        assert values == [sum(i * i for i in range(n)) for n in range(10)]

        bad_id = (await client.post("/squares", params={"n": -1})).json()["task_id"]
        bad = await client.get(f"/squares/{bad_id}", params={"wait": 30})
        print(f"a failing task -> {bad.status_code} {bad.json()['status']}")
        assert bad.status_code == 422

        missing = await client.get("/squares/999999999")
        assert missing.status_code == 404


def main() -> int:
    # A worker refuses to start on a database without pq's tables, and here it starts beside
    # the server whose lifespan would migrate: migrate first, as a deploy step would
    # (`pq migrate fastapi_app:queue`), so the two never race.
    queue.run_db_migrations()
    queue.close()
    processes, base_url = start_processes()
    try:
        asyncio.run(drive(base_url))
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)  # the worker drains, uvicorn runs the shutdown
        for proc in processes:
            proc.wait(60)
    print("the FastAPI example passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
