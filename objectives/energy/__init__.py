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
from greenknobs.objectives.energy._gpu import (
    OPT_IN_MISSING, POWER_LIMIT_TOLERANCE_W, SET_POWER_LIMITS_ENV, current_power_limit_w, default_power_limit_w,
    gpu_count, gpu_name, limit_in_force_w, nvml_index, power_limit, power_limit_range_w, restore_command,
    set_power_limit_w, setting_power_limits_allowed,
)
from greenknobs.objectives.energy._hardware import hardware_summary
from greenknobs.objectives.energy._meter import EnergyMeter, EnergyReading, SOURCES
from greenknobs.objectives.energy._zeus import SHORT_WINDOW_S

__all__ = [
    "EnergyMeter", "EnergyReading", "OPT_IN_MISSING", "POWER_LIMIT_TOLERANCE_W", "SET_POWER_LIMITS_ENV",
    "SHORT_WINDOW_S", "SOURCES", "current_power_limit_w", "default_power_limit_w", "gpu_count", "gpu_name",
    "hardware_summary", "limit_in_force_w", "make_meter", "nvml_index", "power_limit", "power_limit_range_w",
    "restore_command", "set_power_limit_w", "setting_power_limits_allowed",
]
