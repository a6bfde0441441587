"""Plain functions the tests enqueue; each one's behaviour is the thing under test."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path


def add(a: int, b: int) -> int:
    return a + b


def noop() -> None:
    return None


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV in the child


def exit_without_result(code: int = 3) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def spin_forever() -> None:
    while True:
        pass


def allocate_forever() -> None:
    hoard = []
    while True:
        hoard.append(bytearray(50 * 1024 * 1024))


def raise_memory_error() -> None:
    raise MemoryError("simulated: could not allocate")


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def append_line(path: str, text: str) -> None:
    """A visible side effect: one line per run, so tests can count runs."""
    with Path(path).open("a") as f:
        f.write(text + "\n")


def sleep_then_append(path: str, text: str, seconds: float) -> None:
    append_line(path, f"start {text}")
    time.sleep(seconds)
    append_line(path, f"end {text}")


def spawn_grandchild_and_hang(pid_file: str) -> None:
    """Starts a subprocess, records its pid, then hangs: a timeout must kill both."""
    import subprocess

    proc = subprocess.Popen(["sleep", "300"])
    Path(pid_file).write_text(str(proc.pid))
    while True:
        time.sleep(0.1)


def shout(text: str) -> None:
    print(text)  # no flush: pq must not lose it when the child leaves with os._exit


def my_pid() -> int:
    return os.getpid()


COUNTER = 0


def bump_counter() -> int:
    """Returns how many times this process ran it: 1 in a fresh child."""
    global COUNTER
    COUNTER += 1
    return COUNTER


_SHARED: list[object] = []


def grow_rss_by(mib: int) -> int:
    """Grows this process's resident memory by `mib` MiB that max_memory does not refuse
    (shared memory: RLIMIT_DATA caps private memory only) and keeps it; returns the pid."""
    import mmap

    block = mmap.mmap(-1, mib * 2**20)  # anonymous and shared
    for offset in range(0, len(block), mmap.PAGESIZE):
        block[offset] = 1  # touch every page: now it is resident
    _SHARED.append(block)
    return os.getpid()
