import pq


def test_all_is_sorted_and_exported() -> None:
    assert pq.__all__ == sorted(pq.__all__, key=lambda n: (not n.isupper(), n))
    for name in pq.__all__:
        assert hasattr(pq, name), name


def test_exported_names_are_pinned() -> None:
    # A change here is a change of the public API: update docs and the changelog with it.
    assert set(pq.__all__) == {
        "PQ",
        "Attempt",
        "Backoff",
        "ConfigurationError",
        "CorruptRowError",
        "DatabaseUnavailableError",
        "DuplicateClientIdError",
        "InvalidScheduleError",
        "OutcomeKind",
        "PQError",
        "Periodic",
        "PeriodicFunction",
        "Priority",
        "ResultTimeoutError",
        "Retry",
        "ScheduleNotFoundError",
        "SchemaOutdatedError",
        "SerializationError",
        "Signature",
        "Task",
        "TaskCancelledError",
        "TaskDefinitionError",
        "TaskFailedError",
        "TaskFunction",
        "TaskHandle",
        "TaskNotFoundError",
        "TaskStatus",
        "UnknownTaskError",
        "WorkflowCancelledError",
        "WorkflowCancelStalledError",
        "WorkflowFailedError",
        "__version__",
        "chain",
        "chord",
        "group",
        "signature",
    }


def test_reference_imports_work() -> None:
    from pq import PQ, Periodic, Priority, Task, TaskStatus  # noqa: F401

    assert Priority.CRITICAL > Priority.HIGH > Priority.NORMAL > Priority.LOW > Priority.BATCH
    assert [int(p) for p in Priority] == [0, 25, 50, 75, 100]
