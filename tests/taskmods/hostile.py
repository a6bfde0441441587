"""Tasks and values that try to break the worker: bad results, leaked secrets, escapes."""

from __future__ import annotations

from pq import PQ


def enqueue_with_url(url: str) -> None:
    """Enqueues through an app on `url`: a malformed URL fails this task."""
    other = PQ(url)
    try:
        other.enqueue(noop)
    finally:
        other.close()


def raise_with_text(text: str) -> None:
    raise RuntimeError(text)


def noop() -> None:
    return None
