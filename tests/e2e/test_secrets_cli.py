"""A bad database URL is one line on stderr, and never shows its password."""

from __future__ import annotations

import pytest

from pqcli import run_pq

# Each case is a real `pq` process (a few seconds each): the unit tests in
# tests/unit/test_redaction.py cover the other shapes of URL.
CASES = [
    ("migrate", "postgresql://bob:s3cret@[::1/db"),  # unparseable: libpq echoes it whole
    ("migrate", "postgresql://bob:s3cret@127.0.0.1:1/db?bogus=1"),  # unparseable parameter
    ("worker", "postgresq://bob:s3cret@127.0.0.1:1/db"),  # a typo in the scheme
    ("worker", "host=127.0.0.1 port=1 user=bob password=s3cret sslpassword=k3y dbname=db"),
]


@pytest.mark.parametrize(("command", "url"), CASES)
def test_a_bad_url_is_one_line_without_secrets(command: str, url: str) -> None:
    result = run_pq(command, "taskmods.e2e_app:app", db_url=url, timeout=30)
    assert result.returncode == 1
    assert "s3cret" not in result.stderr and "k3y" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # exactly one line
    assert "database" in result.stderr
