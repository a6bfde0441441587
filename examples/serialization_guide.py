"""The code of docs/serialization.md, run end to end (CI runs every example): a pydantic model
argument comes back as the model, and an app that refuses pickles refuses a set at enqueue.

    python examples/serialization_guide.py
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from pq import PQ, SerializationError

QUEUE = "example-serialization"  # its own queue, so other tasks are left alone

app = PQ()


# --8<-- [start:model]
class User(BaseModel):
    name: str
    age: int


@app.task(queue=QUEUE)
def welcome(user: User) -> str:
    return f"welcome {user.name}, a {type(user).__name__}"  # a User, not a dict


# --8<-- [end:model]


def count(items: set[str]) -> int:
    return len(items)  # a set arrives as a set: it travelled as a (signed) pickle


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app.run_db_migrations()
    url = app.database_url

    # --8<-- [start:call]
    handle = welcome.delay(User(name="ann", age=3))
    # --8<-- [end:call]
    app.run_worker(burst=True, queues=[QUEUE])
    print(handle.result(timeout=30))
    assert handle.result(timeout=30) == "welcome ann, a User"

    # --8<-- [start:pickles]
    strict = PQ(url, allow_pickle=False)  # or PQ_ALLOW_PICKLE=false
    signed = PQ(url, secret_key="a long random secret")  # or PQ_SECRET_KEY
    # --8<-- [end:pickles]
    try:
        strict.enqueue(welcome, {"a", "set"}, queue=QUEUE)
        raise AssertionError("a set needs a pickle: allow_pickle=False must refuse it")
    except SerializationError as exc:
        print(f"refused at enqueue: {exc}")
    handle = signed.task(queue=QUEUE)(count).delay({"a", "set"})  # a signed pickle
    signed.run_worker(burst=True, queues=[QUEUE])
    print(f"a signed pickle loaded: count(...) = {handle.result(timeout=30)}")
    assert handle.result(timeout=30) == 2
    for each in (app, strict, signed):
        each.close()
    print("the serialization guide ran")


if __name__ == "__main__":
    main()
