"""Other processes' share of the CPUs while a run measured: a run made under foreign load reads high on an estimated
meter and noisy on any, so every confirmation run records it and the verdict flags it (records._noise.LOAD_FLAG)."""

from __future__ import annotations

import time
from typing import Any


def _busy_s(times: Any) -> float:
    return sum(getattr(times, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_s(proc: Any) -> float:
    t = proc.cpu_times()
    return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)


class ForeignLoad:
    """Context manager: `share` is the CPUs' busy time spent by other processes during the block, as a share of all
    the CPUs' wall time (0 = the machine was ours alone; None where psutil cannot tell)."""

    share: float | None = None

    def __enter__(self) -> ForeignLoad:
        try:
            import psutil

            self._proc = psutil.Process()
            self._cores = psutil.cpu_count() or 1
            self._start = (time.monotonic(), _busy_s(psutil.cpu_times()), _own_s(self._proc))
        except Exception:  # no /proc: nothing to record, the run still counts
            self._start = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._start is None:
            return
        import psutil

        wall0, busy0, own0 = self._start
        wall = time.monotonic() - wall0
        if wall <= 0:
            return
        foreign = (_busy_s(psutil.cpu_times()) - busy0) - (_own_s(self._proc) - own0)
        self.share = min(1.0, max(0.0, foreign / (wall * self._cores)))
