"""Whether RAPL (CPU package + DRAM energy counters) really measures anything on this machine."""

from __future__ import annotations

import logging
import time

from zeus.device import get_cpus
from zeus.exception import ZeusBaseError

logger = logging.getLogger(__name__)

# Long enough for RAPL (updated about every millisecond) to move under load, short enough to probe per study.
PROBE_S = 0.05


def rapl_is_measurable() -> bool:
    """True if Zeus finds RAPL *and* its counters advance over a short busy probe.

    Some VMs expose the RAPL files but never advance them, and Zeus then reports 0 J; that is no measurement.
    """
    try:
        cpus = get_cpus()
        indices = range(len(cpus))
        if not indices:
            return False
        before = [cpus.get_total_energy_consumption(i) for i in indices]
        deadline = time.perf_counter() + PROBE_S
        while time.perf_counter() < deadline:
            pass
        after = [cpus.get_total_energy_consumption(i) for i in indices]
    except ZeusBaseError as err:  # ZeusCPUInitError, ZeusCPUNoPermissionError, unreadable RAPL files, zeusd errors
        logger.info("RAPL not usable: %s", err)
        return False
    moved_mj = sum(a.cpu_mj - b.cpu_mj for a, b in zip(after, before, strict=True))
    if moved_mj <= 0:
        logger.info("RAPL is present but read 0 J over a %.2fs busy probe; treating it as absent", PROBE_S)
    return moved_mj > 0
