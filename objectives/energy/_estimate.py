"""The estimate backend, for machines with no energy counter:

    energy = wall seconds × allotted cores × idle W/core + process CPU seconds × (busy − idle) W/core

Why 10 W per busy core: a loaded server CPU package draws roughly 150–300 W across 16–64 cores, i.e. about
4–15 W for each busy core once uncore and memory-controller power is shared out. Why 3 W per idle core: cores
this process holds draw static power whether it keeps them busy or not, so a slower run costs more than its CPU
seconds; without this term the estimate would reward running on fewer threads for longer (seen: one thread
"saved" 11% on CPU seconds alone while taking 1.7× the time). Both numbers are orders of magnitude, carried with
their label ("estimated", the formula, the watts) into every result, never a measurement; override them with
`watts_per_core=` / GREENKNOBS_WATTS_PER_CORE and GREENKNOBS_IDLE_WATTS_PER_CORE when you know your machine.
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
DEFAULT_IDLE_WATTS_PER_CORE = 3.0
IDLE_WATTS_PER_CORE_ENV = "GREENKNOBS_IDLE_WATTS_PER_CORE"


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


def resolve_idle_watts_per_core(busy_w: float, idle_watts_per_core: float | None = None) -> float:
    """The argument, else GREENKNOBS_IDLE_WATTS_PER_CORE, else 3 W; zero allowed, never as much as a busy core."""
    raw = idle_watts_per_core if idle_watts_per_core is not None else os.environ.get(IDLE_WATTS_PER_CORE_ENV)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        value = DEFAULT_IDLE_WATTS_PER_CORE
    else:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
    if not (math.isfinite(value) and 0 <= value < busy_w):
        raise GreenknobsError(
            f"idle power {raw!r} W per core must be a number from 0 up to below the busy {busy_w:g} W: "
            f"set {IDLE_WATTS_PER_CORE_ENV} to e.g. 3, or unset it"
        )
    return min(value, busy_w)


def _allotted_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class EstimateMeter(EnergyMeter):
    """Energy = the allotted cores' idle power over the window's wall time + the power above idle of the cores
    this process (and its reaped children) kept busy, at most all of the allotted cores."""

    source = "estimated"

    def __init__(self, watts_per_core: float | None = None, *, idle_watts_per_core: float | None = None,
                 reason: str = 'chosen with kind "estimate"') -> None:
        super().__init__()
        self.watts_per_core = resolve_watts_per_core(watts_per_core)
        self.idle_watts_per_core = resolve_idle_watts_per_core(self.watts_per_core, idle_watts_per_core)
        self.cores = _allotted_cores()
        self.description = (
            f"estimated: process CPU time × {self.watts_per_core:g} W per core busy, {self.idle_watts_per_core:g} W "
            f"per core idle over {self.cores} allotted core(s) ({reason})"
        )
        self.hardware = {**hardware_summary(), "meter": self.source, "watts_per_core": self.watts_per_core,
                         "idle_watts_per_core": self.idle_watts_per_core}
        self._process = psutil.Process()
        self._starts: dict[str, tuple[float, float]] = {}

    def _cpu_s(self) -> float:
        t = self._process.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def _begin(self, phase: str) -> None:
        self._starts[phase] = (time.perf_counter(), self._cpu_s())

    def _end(self, phase: str) -> EnergyReading:
        wall0, cpu0 = self._starts.pop(phase)
        wall_s = time.perf_counter() - wall0
        # The kernel counts CPU time in clock ticks (10 ms at 100 Hz), so a window shorter than a tick can read a
        # whole tick busy: more CPU time than its cores had. No window keeps more than its cores busy.
        busy_s = min(max(0.0, self._cpu_s() - cpu0), wall_s * self.cores)
        cpu_j = wall_s * self.cores * self.idle_watts_per_core + busy_s * (self.watts_per_core - self.idle_watts_per_core)
        return EnergyReading(
            phase=phase,
            energy_j=cpu_j,
            gpu_energy_j=0.0,
            cpu_energy_j=cpu_j,
            dram_energy_j=0.0,
            time_s=wall_s,
            source=self.source,
        )
