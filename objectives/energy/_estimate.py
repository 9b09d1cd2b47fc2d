"""The estimate backend: process CPU seconds × a fixed power per busy core, for machines with no energy counter.

Why 10 W per core: a loaded server CPU package draws roughly 150–300 W across 16–64 cores, i.e. about
4–15 W for each busy core once uncore and memory-controller power is shared out. 10 W is that order of
magnitude. The number is an estimate carried with its label ("estimated", the formula, the W/core) into
every result, never a measurement; override it with `watts_per_core=` or GREENKNOBS_WATTS_PER_CORE when
you know your machine better.
"""

from __future__ import annotations

import math
import os
import time

import psutil

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy._hardware import hardware_summary
from greenknobs.objectives.energy._meter import EnergyMeter, EnergyReading

DEFAULT_WATTS_PER_CORE = 10.0
WATTS_PER_CORE_ENV = "GREENKNOBS_WATTS_PER_CORE"


def resolve_watts_per_core(watts_per_core: float | None = None) -> float:
    """The argument if given, else GREENKNOBS_WATTS_PER_CORE if set, else 10 W; always a positive number."""
    if watts_per_core is not None:
        if not _positive(watts_per_core):
            raise GreenknobsError(
                f"watts_per_core={watts_per_core!r} is not a positive number of watts: pass e.g. watts_per_core=10.0"
            )
        return float(watts_per_core)
    raw = os.environ.get(WATTS_PER_CORE_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_WATTS_PER_CORE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not _positive(value):
        raise GreenknobsError(
            f"{WATTS_PER_CORE_ENV}={raw!r} is not a positive number of watts: set it to e.g. 10 or unset it"
        )
    return value


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class EstimateMeter(EnergyMeter):
    """Energy = CPU seconds this process (and its reaped children) used in the window × watts_per_core."""

    source = "estimated"

    def __init__(self, watts_per_core: float | None = None, *, reason: str = 'chosen with kind "estimate"') -> None:
        super().__init__()
        self.watts_per_core = resolve_watts_per_core(watts_per_core)
        self.description = f"estimated: process CPU time × {self.watts_per_core:g} W per core ({reason})"
        self.hardware = {**hardware_summary(), "meter": self.source, "watts_per_core": self.watts_per_core}
        self._process = psutil.Process()
        self._starts: dict[str, tuple[float, float]] = {}

    def _cpu_s(self) -> float:
        t = self._process.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def _begin(self, phase: str) -> None:
        self._starts[phase] = (time.perf_counter(), self._cpu_s())

    def _end(self, phase: str) -> EnergyReading:
        wall0, cpu0 = self._starts.pop(phase)
        cpu_j = max(0.0, self._cpu_s() - cpu0) * self.watts_per_core
        return EnergyReading(
            phase=phase,
            energy_j=cpu_j,
            gpu_energy_j=0.0,
            cpu_energy_j=cpu_j,
            dram_energy_j=0.0,
            time_s=time.perf_counter() - wall0,
            source=self.source,
        )
