"""Fixtures for the e2e tests: background `pq` processes that never outlive a test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from pqcli import PQ_COMMAND, TESTS, pq_env


@pytest.fixture
def start_pq() -> Iterator[object]:
    """Starts `pq ...` in the background; every process is killed at the end of the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, db_url: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [PQ_COMMAND, *args],
            env=pq_env(db_url),
            cwd=TESTS,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
