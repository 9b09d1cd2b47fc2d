"""One measurement at a time on this machine: the estimate meter charges idle cores for wall time, so a run measured
while another process trains reads high (seen: a baseline's spread rose from a few % to 16%).

Every benchmark run whose joules are published takes the *exclusive* lock for the duration of one run; test suites
and other CPU-heavy work take it *shared* (`flock -s /tmp/greenknobs-cpu.lock pytest ...`), so a measurement waits
for them and they wait for it. The load average at the start of each measurement is recorded beside its result."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

LOCK = os.environ.get("GREENKNOBS_CPU_LOCK", "/tmp/greenknobs-cpu.lock")


@contextlib.contextmanager
def exclusive_cpu() -> Iterator[float]:
    """Hold the machine for one measurement; yields the 1-minute load average when it was granted."""
    with open(LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield os.getloadavg()[0]
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
