"""Functions the periodic tests schedule, and hooks that show what a periodic run receives."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def sync_data(region: str) -> str:
    return region


def fail_first_attempt(marker: str) -> str:
    """Fails the first time (no marker file yet), succeeds the next."""
    path = Path(marker)
    if not path.exists():
        path.write_text("tried")
        raise RuntimeError("first attempt fails on purpose")
    return "second attempt"


def record_hook(task: Any, error: BaseException | None = None) -> None:
    """pre/post_execute hook: appends what it was given to $PQ_TEST_HOOK_FILE."""
    seen = {
        "id": task.id,
        "periodic_id": task.periodic_id,
        "key": task.options.get("periodic", {}).get("key"),
        "error": None if error is None else type(error).__name__,
    }
    with Path(os.environ["PQ_TEST_HOOK_FILE"]).open("a") as f:
        f.write(json.dumps(seen) + "\n")
