"""How many processes to run in parallel: one per core this process may use."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on: ``os.process_cpu_count()`` (Python 3.13+), else the CPU
    affinity mask (Linux: a container's or ``taskset``'s limit), else every core; at least 1."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        count: int | None = counter()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)
