"""The measuring backend: Zeus's `ZeusMonitor` windows over NVML GPU energy counters and RAPL.

Zeus's `Measurement.total_energy` counts GPUs only, so the reading sums the GPU, CPU and DRAM dicts itself.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from zeus.monitor import ZeusMonitor

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy._gpu import gpu_name, translate_gpu_errors
from greenknobs.objectives.energy._hardware import hardware_summary
from greenknobs.objectives.energy._meter import EnergyMeter, EnergyReading

# NVML energy counters tick every ~0.1 s on recent GPUs. Below this a 0 J delta is plausible and Zeus's
# instant-power approximation stands in; above it a 0 J delta means the counter is broken.
SHORT_WINDOW_S = 0.5

_ZEUS_ZERO_WARNING = "The energy consumption of one or more GPUs was measured as zero"


@contextmanager
def _metering_errors() -> Iterator[None]:
    try:
        with translate_gpu_errors(
            action="reading the GPU energy counter", feature="energy counters", fallback='use meter kind "estimate"'
        ):
            yield
    except RuntimeError as err:  # Zeus's CUDA sync: raised when torch (or jax/cupy) cannot reach the GPU
        raise GreenknobsError(
            f"Zeus could not synchronise the GPU before reading its energy ({err}): "
            'install a CUDA build of torch, or use meter kind "estimate"'
        ) from None


class ZeusMeter(EnergyMeter):
    """Measured energy: GPU counters for `gpu_indices` (may be empty) plus CPU package and DRAM when `rapl`."""

    def __init__(self, gpu_indices: list[int], *, rapl: bool, rapl_excluded: str = "") -> None:
        super().__init__()
        if not gpu_indices and not rapl:
            raise ValueError("ZeusMeter needs GPUs or RAPL to measure")
        self.source = "measured-gpu" if gpu_indices else "measured-cpu"
        self._gpu_indices = list(gpu_indices)
        with _metering_errors():
            # cpu_indices=[] keeps an unreadable RAPL's zeros out of the sum.
            self._monitor = ZeusMonitor(
                gpu_indices=self._gpu_indices, cpu_indices=None if rapl else [], approx_instant_energy=False
            )
        self._gpu_names = {i: gpu_name(i) for i in self._gpu_indices}
        cpu_part = ("CPU package + DRAM from RAPL" if rapl else
                    f"CPU and DRAM not metered ({rapl_excluded})" if rapl_excluded else
                    "CPU and DRAM not metered (no readable RAPL)")
        self.hardware = {**hardware_summary(self._gpu_indices), "meter": self.source,
                         "cpu_energy": "RAPL" if rapl else ("excluded: shared" if rapl_excluded else "none")}
        if self._gpu_indices:
            gpus = f"{len(self._gpu_indices)}× {self.hardware['gpu']}"
            self.description = f"measured-gpu: Zeus/NVML energy counters on {gpus}; {cpu_part}"
        else:
            self.description = f"measured-cpu: Zeus/RAPL {cpu_part}; no GPU"
        self._starts: dict[str, float] = {}

    def _begin(self, phase: str) -> None:
        with _metering_errors():
            self._monitor.begin_window(phase, sync_execution=True)
        self._starts[phase] = time.time()

    def _end(self, phase: str) -> EnergyReading:
        elapsed_s = time.time() - self._starts.pop(phase)
        # Zeus reads this attribute inside end_window; only short windows may fall back to instant power,
        # so that a stuck counter on a long window still shows up as 0 J below.
        self._monitor.approx_instant_energy = elapsed_s <= SHORT_WINDOW_S
        with warnings.catch_warnings(), _metering_errors():
            warnings.filterwarnings("ignore", message=_ZEUS_ZERO_WARNING)
            m = self._monitor.end_window(phase, sync_execution=True)
        if m.time > SHORT_WINDOW_S:
            for index, joules in m.gpu_energy.items():
                if joules <= 0.0:
                    raise GreenknobsError(
                        f"GPU energy counter reported {joules:g} J for a {m.time:.1f}s window on GPU {index} "
                        f"({self._gpu_names.get(index, 'unknown')}): the counter is not advancing, so this is no "
                        'measurement; check the GPU with nvidia-smi, or use meter kind "estimate"'
                    )
        gpu_j = sum(m.gpu_energy.values())
        cpu_j = sum((m.cpu_energy or {}).values())
        dram_j = sum((m.dram_energy or {}).values())
        return EnergyReading(
            phase=phase,
            energy_j=gpu_j + cpu_j + dram_j,
            gpu_energy_j=gpu_j,
            cpu_energy_j=cpu_j,
            dram_energy_j=dram_j,
            time_s=m.time,
            source=self.source,
        )
