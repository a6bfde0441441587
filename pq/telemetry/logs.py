"""Log output: the default text lines, or `--log-format json` (one object per line).

A task's log line carries its fields in `record.pq` (a dict: task_id, name, attempt, queue,
outcome, duration, max_rss_kib); the JSON formatter puts them at the top level beside the
timestamp, level, logger, message and the worker's own fields (`process_fields`, which the
worker fills in once it has registered, so its children inherit them across the fork).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FORMATS = ("text", "json")

# Fields every line of this process carries (the worker sets worker_id).
process_fields: dict[str, Any] = {}
# The format configure() chose; a forked child inherits it for the task's own output.
current_format = "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a traceback goes in `exc_info`, never across lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(process_fields)
        fields = getattr(record, "pq", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str, log_format: str = "text") -> None:
    """Logging to stderr in the chosen format (the CLI calls this once per command)."""
    global current_format
    current_format = log_format
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])


def output_line(task_id: int, stream: str, text: str) -> str:
    """A line a task printed, as the JSON format shows it (see pq.worker.output)."""
    entry: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": "INFO" if stream == "stdout" else "WARNING",
        "logger": f"pq.task.{stream}",
        "message": text,
    }
    entry.update(process_fields)
    entry["task_id"] = task_id
    return json.dumps(entry, default=str) + "\n"
