"""The meter interface every backend implements, and the reading it returns for one window."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from greenknobs._errors import GreenknobsError

SOURCES = ("measured-gpu", "measured-cpu", "estimated", "simulated")  # simulated: objectives/_simulated.py


@dataclass(frozen=True)
class EnergyReading:
    """The energy and time of one measured window (one pipeline phase)."""

    phase: str
    energy_j: float  # gpu_energy_j + cpu_energy_j + dram_energy_j
    gpu_energy_j: float
    cpu_energy_j: float
    dram_energy_j: float
    time_s: float
    source: str  # one of SOURCES


class EnergyMeter(ABC):
    """Measures named windows; subclasses supply `_begin` / `_end` and the three describing attributes."""

    source: str
    description: str
    hardware: dict[str, str | int | float]

    def __init__(self) -> None:
        self.readings: list[EnergyReading] = []
        self._open: set[str] = set()

    def begin(self, phase: str) -> None:
        if phase in self._open:
            raise GreenknobsError(f"energy window {phase!r} is already open: end it before beginning it again")
        self._begin(phase)
        self._open.add(phase)

    def end(self, phase: str) -> EnergyReading:
        if phase not in self._open:
            raise GreenknobsError(f"energy window {phase!r} was never begun: call begin({phase!r}) first")
        self._open.discard(phase)
        reading = self._end(phase)
        self.readings.append(reading)
        return reading

    @contextmanager
    def window(self, phase: str) -> Iterator[list[EnergyReading]]:
        """Measure the block; the yielded list holds its reading afterwards, even if the block raised."""
        holder: list[EnergyReading] = []
        self.begin(phase)
        try:
            yield holder
        except BaseException as err:
            try:
                holder.append(self.end(phase))
            except Exception as end_err:
                # The block's error is the one to see; a failed reading must not mask it.
                err.add_note(f"also: ending energy window {phase!r} failed: {end_err}")
            raise
        holder.append(self.end(phase))

    @abstractmethod
    def _begin(self, phase: str) -> None: ...

    @abstractmethod
    def _end(self, phase: str) -> EnergyReading: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"
