"""Task functions used by the tests. They live in an importable module (not in test files)
so a forked child, or a `pq worker` subprocess, can import them by name."""
