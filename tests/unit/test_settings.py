import pytest

from pq import PQ, Priority
from pq.errors import ConfigurationError
from pq.models import coerce_priority
from pq.settings import WorkerSettings


@pytest.mark.parametrize("schema", ["Bad", "1x", "a-b", "x" * 64, 'x"; drop'])
def test_unsafe_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(ConfigurationError, match="schema="):
        PQ("postgresql://localhost/x", schema=schema)


def test_pq_without_url_or_embedded_names_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    from pq.store import embedded

    monkeypatch.delenv("PQ_DATABASE_URL", raising=False)
    monkeypatch.setattr(embedded, "is_installed", lambda: False)
    with pytest.raises(ConfigurationError, match=r"PQ_DATABASE_URL.*\[embedded\]"):
        _ = PQ().database_url


def test_env_url_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PQ_DATABASE_URL", "postgresql://example/db")
    assert PQ().database_url == "postgresql://example/db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [(Priority.HIGH, 75), ("high", 75), ("CRITICAL", 100), (25, 25), ("0", 0)],
)
def test_priorities_accept_enum_name_or_number(given: object, expected: int) -> None:
    assert coerce_priority(given) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["urgent", 101, -1])
def test_bad_priorities_are_refused(given: object) -> None:
    with pytest.raises(ValueError):
        coerce_priority(given)  # type: ignore[arg-type]


def test_worker_settings_refuse_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="concurrency"):
        WorkerSettings(concurrency=0)
    with pytest.raises(ConfigurationError, match="lease"):
        WorkerSettings(heartbeat_interval=10, lease=5)
