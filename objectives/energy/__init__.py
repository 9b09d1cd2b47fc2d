"""Energy metering: measured (Zeus over NVML / RAPL) where the machine allows, labelled estimates where not.

    meter = make_meter()                      # "auto": measured-gpu, measured-cpu, or estimated
    with meter.window("train") as reading:
        train()
    reading[0].energy_j, reading[0].source

    with power_limit(250.0) as applied_w:     # set, verified by read-back, restored afterwards; only with
        ...                                   # GREENKNOBS_SET_POWER_LIMITS=1 (else refused, nothing set)
"""

from __future__ import annotations

from greenknobs.objectives.energy._factory import make_meter
from greenknobs.objectives.energy._gpu import current_power_limit_w, gpu_count, gpu_name, power_limit, power_limit_range_w
from greenknobs.objectives.energy._hardware import hardware_summary
from greenknobs.objectives.energy._meter import SOURCES, EnergyMeter, EnergyReading

__all__ = [
    "SOURCES",
    "current_power_limit_w",
    "EnergyMeter",
    "EnergyReading",
    "gpu_count",
    "gpu_name",
    "hardware_summary",
    "make_meter",
    "power_limit",
    "power_limit_range_w",
]
