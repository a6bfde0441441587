"""Tasks and values that try to break the worker: bad results, leaked secrets, escapes."""

from __future__ import annotations

import time
from pathlib import Path

from pq import PQ


def enqueue_with_url(url: str) -> None:
    """Enqueues through an app on `url`: a malformed URL fails this task."""
    other = PQ(url)
    try:
        other.enqueue(noop)
    finally:
        other.close()


def raise_with_text(text: str) -> None:
    raise RuntimeError(text)


def noop() -> None:
    return None


def hold_until_released(marker: str, release: str) -> str:
    """Says it runs (creates `marker`), then waits for the test to create `release`."""
    Path(marker).touch()
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


NUL_TEXT = "before\x00after"
SURROGATE_NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # as os.listdir gives it


def return_nul() -> str:
    return NUL_TEXT


def return_surrogate() -> list[str]:
    return [SURROGATE_NAME]


def raise_nul() -> None:
    raise ValueError(NUL_TEXT)


def raise_surrogate() -> None:
    raise FileNotFoundError(2, "No such file", SURROGATE_NAME)


def return_big(mib: float) -> str:
    return "x" * int(mib * 2**20)


def accept_anything(*args: object, **kwargs: object) -> None:
    return None


def leave_own_group_then_sleep(seconds: float) -> None:
    """Moves into the worker's process group, out of reach of a kill of its own group."""
    import os

    os.setpgid(0, os.getpgid(os.getppid()))
    time.sleep(seconds)


def start_detached_sleep(pidfile: str, seconds: float) -> None:
    """Starts a `sleep 60` in a session of its own, out of reach of a process-group kill."""
    import subprocess

    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    Path(pidfile).write_text(str(proc.pid))
    time.sleep(seconds)


def start_daemon_sleep(pidfile: str, seconds: float) -> None:
    """Daemonizes a `sleep 60` the classic way (fork, setsid, fork, the middle one exits),
    so the sleep is nobody's child it started and sits in a session of its own."""
    import os

    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                Path(pidfile + ".tmp").write_text(str(os.getpid()))
                os.rename(pidfile + ".tmp", pidfile)
                os.execvp("sleep", ["sleep", "60"])
        finally:
            os._exit(0)
    os.waitpid(middle, 0)
    time.sleep(seconds)


def return_big_document(mib: float) -> dict[str, object]:
    """A large result with escapes and non-ASCII text in it (its JSON is about `mib` MiB)."""
    unit = 'caf\u00e9 "quoted"\n\\ '  # 15 characters, 26 bytes of JSON
    return {"text": unit * int(mib * 2**20 / 26), "tail": [1, 2.5, None, True]}


def size_of(document: dict[str, object]) -> int:
    return len(str(document["text"]))
