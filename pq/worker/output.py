"""A task's own output, tagged with its task id.

After the fork the child replaces `sys.stdout` and `sys.stderr` with a `TaggedStream`, so every
line a task prints (or a library logs to stderr) starts with `[task 42]` and can be told apart
in a worker's output where several children write at once. Output written to the file
descriptors directly (a subprocess's) is left untouched.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

from pq.telemetry import logs


class TaggedStream(io.TextIOBase):
    """Writes to `target`, starting every line with `prefix`."""

    def __init__(self, target: TextIO, prefix: str) -> None:
        super().__init__()
        self.target = target
        self.prefix = prefix
        self.at_line_start = True

    def write(self, text: str) -> int:
        if not text:
            return 0
        tagged = []
        for line in text.splitlines(keepends=True):
            if self.at_line_start:
                tagged.append(self.prefix)
            tagged.append(line)
            self.at_line_start = line.endswith("\n")
        self.target.write("".join(tagged))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.target.encoding


class JsonLineStream(TaggedStream):
    """With `--log-format json`: each line the task writes becomes one JSON object (with
    the task id and the stream's name), so the worker's output stays one object per line."""

    def __init__(self, target: TextIO, task_id: int, stream: str) -> None:
        super().__init__(target, "")
        self.task_id = task_id
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.target.write(logs.output_line(self.task_id, self.stream, line))
        return len(text)

    def flush(self) -> None:
        if self.pending:  # the child is leaving (or flushing on purpose): say what is left
            self.target.write(logs.output_line(self.task_id, self.stream, self.pending))
            self.pending = ""
        self.target.flush()


def tag_standard_streams(task_id: int) -> None:
    """Called in the child only, before any of the task's code runs."""
    if logs.current_format == "json":
        sys.stdout = JsonLineStream(sys.stdout, task_id, "stdout")
        sys.stderr = JsonLineStream(sys.stderr, task_id, "stderr")
        return
    prefix = f"[task {task_id}] "
    sys.stdout = TaggedStream(sys.stdout, prefix)
    sys.stderr = TaggedStream(sys.stderr, prefix)
