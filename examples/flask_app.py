"""pq in a Flask application: an app factory with the FlaskPQ extension, a view that
enqueues, a view that waits for the value, and `flask pq worker` running the tasks.

Serve it yourself, from this directory (two terminals):

    flask --app flask_app run
    flask --app flask_app pq worker              # the PQ_QUEUES of the config below
    curl -X POST 'localhost:5000/squares?n=12'   # -> {"task_id": 1}
    curl 'localhost:5000/squares/1?wait=10'      # -> {"status": "completed", "value": 506}

Or run `python examples/flask_app.py`: it enqueues through Flask's test client, runs
`flask pq worker --burst` as a subprocess, reads the values back, and exits 0 (CI runs it so).
With no PQ_DATABASE_URL, pq uses its embedded development Postgres.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from pq import PQ, ResultTimeoutError, TaskFailedError, TaskHandle, TaskNotFoundError
from pq.contrib.flask import FlaskPQ, get_queue

# --8<-- [start:app]
QUEUE = "example-flask"  # its own queue, so a shared database's other tasks are left alone

queue = PQ()
pq_ext = FlaskPQ(queue)


@queue.task(queue=QUEUE)
def sum_of_squares(n: int) -> int:
    if n < 0:
        raise ValueError(f"n={n}: give a count of 0 or more")
    return sum(i * i for i in range(n))


def create_app() -> Flask:
    app = Flask(__name__)
    # PQ_MIGRATE suits one instance; with several, run `flask pq migrate` at deploy.
    app.config.update(PQ_MIGRATE=True, PQ_QUEUES=[QUEUE])
    pq_ext.init_app(app)

    @app.post("/squares")
    def start() -> ResponseReturnValue:
        handle = sum_of_squares.delay(int(request.args["n"]))
        return {"task_id": handle.id}, 201

    @app.get("/squares/<int:task_id>")
    def outcome(task_id: int) -> ResponseReturnValue:
        wait = float(request.args.get("wait", 0))
        try:
            value = TaskHandle(get_queue(), task_id).result(timeout=wait)
        except TaskNotFoundError:
            return {"error": f"no task {task_id}"}, 404
        except ResultTimeoutError:
            return {"status": "pending"}, 202
        except TaskFailedError as exc:
            return {"status": "failed", "error": str(exc)}, 422
        return jsonify(status="completed", value=value)

    return app


# --8<-- [end:app]


# -- the self-check CI runs -------------------------------------------------------------------
HERE = Path(__file__).resolve().parent


def main() -> int:
    client = create_app().test_client()
    started = {n: client.post(f"/squares?n={n}").get_json()["task_id"] for n in (3, 12, -1)}
    waiting = client.get(f"/squares/{started[12]}")
    print(f"enqueued {sorted(started.values())}; before any worker: {waiting.status_code}")
    assert waiting.status_code == 202

    env = {**os.environ, "PQ_DATABASE_URL": queue.database_url}
    worker = [sys.executable, "-m", "flask", "--app", "flask_app", "pq", "worker", "--burst"]
    subprocess.run(worker, cwd=HERE, env=env, check=True, timeout=120)

    answers = {n: client.get(f"/squares/{task_id}?wait=10") for n, task_id in started.items()}
    for n, answer in answers.items():
        print(f"GET /squares/{started[n]} (n={n}) -> {answer.status_code} {answer.get_json()}")
    assert answers[3].get_json() == {"status": "completed", "value": 5}
    assert answers[12].get_json() == {"status": "completed", "value": 506}
    assert answers[-1].status_code == 422
    queue.close()
    print("the Flask example passed")
    return 0


if __name__ == "__main__":
    # Run as the module `flask_app`, not as __main__: tasks are named after their module,
    # and the worker imports `flask_app` to find them.
    sys.path.insert(0, str(HERE))
    import flask_app

    sys.exit(flask_app.main())
