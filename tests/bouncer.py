"""A real PgBouncer (Debian's /usr/sbin/pgbouncer) in transaction mode in front of the test
server, on a free port of its own, for the tests that check pq works through a pooler.

Every database of the server is reachable through it under the same name (the `*` fallback
entry), so a test's own database (the `db_url` fixture) has a pooled twin URL. With
`unix=True` it also listens on a Unix socket and reaches the server by its Unix socket, as a
PgBouncer beside Postgres on the database host does (`unix_url_for`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return os.access(PGBOUNCER, os.X_OK)


class NoUnixSocket(RuntimeError):
    """The test server listens on no Unix socket (a Postgres configured for TCP only)."""


def server_socket_dir(server_url: str) -> str:
    """The server's (first) Unix socket directory; NoUnixSocket if it has none."""
    with psycopg.connect(server_url) as conn:
        row = conn.execute("SHOW unix_socket_directories").fetchone()
    dirs = [d.strip() for d in str(row[0] if row else "").split(",") if d.strip()]
    if not dirs or not dirs[0].startswith("/"):
        raise NoUnixSocket("the test server has no Unix socket directory")
    return dirs[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgBouncer:
    """Started on construction; `url_for(db_url)` is the same database through the bouncer."""

    def __init__(self, server_url: str, *, pool_size: int = 20, unix: bool = False) -> None:
        info = psycopg.conninfo.conninfo_to_dict(server_url)
        self.port = _free_port()
        self.user = str(info.get("user") or "postgres")
        self.dir = Path(tempfile.mkdtemp(prefix="pq-pgbouncer-"))
        host = server_socket_dir(server_url) if unix else str(info.get("host") or "127.0.0.1")
        target = f"host={host} port={info.get('port') or 5432} user={self.user}"
        if info.get("password"):
            target += f" password={info['password']}"
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = {target}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.dir if unix else ''}\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 1000\n"
            f"default_pool_size = {pool_size}\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            # DROP DATABASE ... WITH (FORCE) ends its server connections: forget them at once
            "server_check_delay = 0\n"
        )
        command = [PGBOUNCER, "-q"]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; run it as the owner of the server's socket
            # directory (the embedded server's socket lives inside its private data dir).
            owner = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
            shutil.chown(self.dir, owner)
            for path in self.dir.iterdir():
                shutil.chown(path, owner)
            command += ["-u", owner]
        self.proc = subprocess.Popen(
            [*command, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start: {self.log()}") from None
                time.sleep(0.05)

    def url_for(self, db_url: str) -> str:
        """The same database (and user) as `db_url`, through the bouncer."""
        info = psycopg.conninfo.conninfo_to_dict(db_url)
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{info['dbname']}?connect_timeout=10"

    def unix_url_for(self, db_url: str) -> str:
        """`url_for` through the bouncer's Unix socket (made with unix=True)."""
        info = psycopg.conninfo.conninfo_to_dict(db_url)
        return psycopg.conninfo.make_conninfo(
            user=self.user, dbname=str(info["dbname"]), host=str(self.dir), port=str(self.port)
        )

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # PgBouncer's "shut down at once"
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["PgBouncer", "available"]
