"""A TCP proxy in front of the test server whose forwarding can be frozen: a silent network cut.

While frozen it forwards nothing in either direction but keeps every socket open (no reset, no
FIN), and it accepts new connections without connecting them onward: to the worker it looks
like packets dropped on the way. `heal()` resumes forwarding on whatever is still open.
"""

from __future__ import annotations

import select
import selectors
import socket
import threading
from contextlib import suppress
from typing import Any

import psycopg


def _upstream_address(server_url: str) -> tuple[int, Any]:
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    host = str(info.get("host") or "127.0.0.1")
    port = int(info.get("port") or 5432)
    if host.startswith("/"):  # a socket directory (the embedded server)
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


class FreezableProxy:
    def __init__(self, db_url: str) -> None:
        self._family, self._address = _upstream_address(db_url)
        self._db_url = db_url
        self._running = threading.Event()  # set: forwarding; clear: frozen
        self._running.set()
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._clients: list[socket.socket] = []  # the connections made to the proxy
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        """The same database as `db_url`, reached through the proxy."""
        info = psycopg.conninfo.conninfo_to_dict(self._db_url)
        info.update(host="127.0.0.1", port=str(self.port))
        return psycopg.conninfo.make_conninfo(**info)

    def freeze(self) -> None:
        self._running.clear()

    def heal(self) -> None:
        self._running.set()

    def holds_unanswered_bytes(self) -> bool:
        """While frozen: whether a client sent bytes the proxy is holding back, i.e. someone
        is waiting on the database for an answer that cannot come."""
        with self._lock:
            clients = [s for s in self._clients if s.fileno() >= 0]
        if not clients:
            return False
        readable, _, _ = select.select(clients, [], [], 0)
        return bool(readable)

    def close(self) -> None:
        self._closed = True
        self._running.set()
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for s in self._sockets:
                with suppress(OSError):
                    s.close()

    def _keep(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.append(s)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._running.wait()  # a connection made during the cut goes nowhere until it heals
        if self._closed:
            return
        upstream = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            upstream.connect(self._address)
        except OSError:
            client.close()
            return
        self._keep(upstream)
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            while not self._closed:
                if not self._running.is_set():
                    # Frozen: read nothing, send nothing, close nothing.
                    self._running.wait(0.1)
                    continue
                for key, _ in sel.select(0.1):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = src.recv(65536)
                        if not data:
                            raise OSError("closed")
                        peer[src].sendall(data)
                    except OSError:
                        for s in (client, upstream):
                            with suppress(OSError):
                                s.close()
                        return
