"""`pq dashboard`: refuses to listen beyond loopback without a token, says so in one line."""

from __future__ import annotations

import pytest

from pqcli import run_pq

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
