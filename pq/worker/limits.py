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
import resource
from dataclasses import dataclass
from typing import Any

from pq.settings import format_size

MEMORY_MECHANISM = "RLIMIT_DATA"


@dataclass(frozen=True)
class Limits:
    """What the child applies to itself before the task's function runs."""

    max_memory: int | None = None  # bytes
    max_cpu: float | None = None  # CPU seconds (user + system)
    soft_only: bool = False  # a reused child: lower the soft limits only (see reused())

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
        if self.soft_only:
            self._apply_soft()
            return
        if self.max_memory is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (self.max_memory, self.max_memory))
        if self.max_cpu is not None:
            soft = max(1, math.ceil(self.max_cpu))
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))

    def _apply_soft(self) -> None:
        for kind, value in (
            (resource.RLIMIT_DATA, self.max_memory),
            (resource.RLIMIT_CPU, None if self.max_cpu is None else math.ceil(self.max_cpu)),
        ):
            hard = resource.getrlimit(kind)[1]
            soft = resource.RLIM_INFINITY if value is None else max(1, value)
            if hard != resource.RLIM_INFINITY:
                soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
            resource.setrlimit(kind, (soft, hard))

    def reused(self, usage: Any) -> Limits:
        """The limits of one task in a reused child: the CPU limit counts from the CPU the
        process already used (RLIMIT_CPU is per process), and hard limits stay where they
        are so that the next task may set its own."""
        used = float(usage.ru_utime + usage.ru_stime)
        max_cpu = None if self.max_cpu is None else used + self.max_cpu
        return Limits(self.max_memory, max_cpu, soft_only=True)

    def memory_message(self) -> str:
        if self.max_memory is None:
            return "the task ran out of memory (no max_memory was set)"
        return (
            f"the task exceeded its memory limit max_memory={format_size(self.max_memory)} "
            f"({MEMORY_MECHANISM})"
        )
