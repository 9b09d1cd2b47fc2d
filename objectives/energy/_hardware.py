"""What a measurement ran on, so that every energy number carries its hardware with it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from greenknobs.objectives.energy._gpu import gpu_count, gpu_name


def cpu_model() -> str:
    """The CPU model name ("AMD EPYC 7763 64-Core Processor"), or the platform's best guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass  # not Linux, or /proc is hidden: fall through to what the platform module knows
    return platform.processor() or platform.machine() or "unknown"


def hardware_summary(gpu_indices: list[int] | None = None) -> dict[str, str | int | float]:
    """The GPUs (all visible ones, or `gpu_indices`) and the CPU of this machine, as a flat dict."""
    indices = list(range(gpu_count())) if gpu_indices is None else list(gpu_indices)
    names = list(dict.fromkeys(gpu_name(i) for i in indices))
    return {
        "gpu": ", ".join(names) if names else "none",
        "gpu_count": len(indices),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count() or 1,
    }
