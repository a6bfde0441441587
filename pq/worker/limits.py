"""Resource limits of one task: parsing sizes, and applying them in the child.

`max_memory` is enforced with RLIMIT_DATA: since Linux 4.7 it caps the heap and every private
writable mapping (where Python's objects and large buffers live) but not the shared libraries
mapped into the process, so a limit means "memory the task allocated". RLIMIT_AS would also
charge the address space that libraries reserve without using (thread arenas, BLAS pools), so
the same number would fail much earlier for numpy-style tasks. Measured on the machines here
(cgroup v1, kernel 6.x) both turn an allocation past the limit into a MemoryError; cgroup v2
memory.max is not available to an unprivileged worker here, so pq does not use it.
`max_cpu` is RLIMIT_CPU: the kernel sends SIGXCPU at the limit and SIGKILL a second later.
"""

from __future__ import annotations

import math
import re
import resource
from dataclasses import dataclass
from typing import Any

from pq.errors import ConfigurationError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MEMORY_MECHANISM = "RLIMIT_DATA"


def parse_size(value: str | int | None) -> int | None:
    """'512MiB', '2G', '1.5GiB', '1000000' or an int (bytes) -> bytes. Units are binary."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value <= 0:
            raise ConfigurationError(f"max_memory={value}: it must be a positive size")
        return value
    match = _SIZE.match(value)
    if not match:
        raise ConfigurationError(
            f"max_memory={value!r} is not a size: write e.g. 512MiB, 2GiB or a number of bytes"
        )
    number, unit = match.groups()
    size = int(float(number) * _UNITS[(unit or "")[:1].lower()])
    if size <= 0:
        raise ConfigurationError(f"max_memory={value!r}: it must be a positive size")
    return size


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


@dataclass(frozen=True)
class Limits:
    """What the child applies to itself before the task's function runs."""

    max_memory: int | None = None  # bytes
    max_cpu: float | None = None  # CPU seconds (user + system)

    @classmethod
    def for_task(
        cls, options: dict[str, Any], max_memory: int | None, max_cpu: float | None
    ) -> Limits:
        """The task's own limits win over the worker's defaults."""
        return cls(
            max_memory=options.get("max_memory") or max_memory,
            max_cpu=options.get("max_cpu") or max_cpu,
        )

    def apply(self) -> None:
        """Runs in the child only: lowers its own limits (children may only lower them)."""
        if self.max_memory is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (self.max_memory, self.max_memory))
        if self.max_cpu is not None:
            soft = max(1, math.ceil(self.max_cpu))
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))

    def memory_message(self) -> str:
        if self.max_memory is None:
            return "the task ran out of memory (no max_memory was set)"
        return (
            f"the task exceeded its memory limit max_memory={format_size(self.max_memory)} "
            f"({MEMORY_MECHANISM})"
        )
