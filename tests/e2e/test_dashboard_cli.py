"""`pq dashboard`: refuses to listen beyond loopback without a token, says so in one line."""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pqcli import PQ_COMMAND, TESTS, pq_env, run_pq
from waiting import wait_until

pytest.importorskip("uvicorn", reason="the dashboard extra is not installed")


def test_refuses_a_public_address_without_a_token(db_url: str) -> None:
    result = run_pq(
        "dashboard",
        "taskmods.dashboard_app:app",
        "--host",
        "0.0.0.0",
        db_url=db_url,
        env={"PQ_DASHBOARD_TOKEN": ""},
    )
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_is_one_clear_line(db_url: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_pq(
            "dashboard", "taskmods.dashboard_app:app", "--port", str(port), db_url=db_url
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_public_address_with_a_token_from_the_environment_serves_only_with_it(
    db_url: str, tmp_path: Path
) -> None:
    token = "env-token-for-e2e"
    log = tmp_path / "dashboard.log"
    env = pq_env(db_url)
    env["PQ_DASHBOARD_TOKEN"] = token
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PQ_COMMAND, "dashboard", "taskmods.dashboard_app:app", *PUBLIC_ANY_PORT],
            env=env,
            cwd=TESTS,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def port() -> int | None:
            assert proc.poll() is None, log.read_text()
            found = re.search(r"pq dashboard on http://0\.0\.0\.0:(\d+)/", log.read_text())
            return int(found.group(1)) if found else None

        url = f"http://127.0.0.1:{wait_until(port, timeout=60)}/"
        stranger = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as refused:
            stranger.open(url, timeout=30)
        assert refused.value.code == 303 and "/login" in refused.value.headers["location"]
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as page:
            assert page.status == 200 and b"Overview" in page.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


PUBLIC_ANY_PORT = ("--host", "0.0.0.0", "--port", "0")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
