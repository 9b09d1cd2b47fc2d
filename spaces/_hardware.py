"""What this machine can do, as named capabilities that knobs declare they need.

A knob value that needs a missing capability is left out of the space with the reason, never run as a no-op.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu": where training and inference run
    cpu_cores: int
    gpu_name: str = ""
    power_limit_range_w: tuple[float, float] | None = None
    power_limit_default_w: float | None = None
    missing: dict[str, str] = field(default_factory=dict)  # capability -> why it is missing here

    def has(self, capability: str) -> bool:
        return capability not in self.missing

    def why_not(self, needs: frozenset[str]) -> str | None:
        for capability in sorted(needs):
            if capability in self.missing:
                return self.missing[capability]
        return None


@functools.lru_cache(maxsize=1)
def detect() -> Hardware:
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    missing: dict[str, str] = {}
    cuda = torch.cuda.is_available()
    if not cuda:
        for cap in ("cuda", "fp16", "pin-memory", "bnb-cuda"):
            missing[cap] = "needs a CUDA GPU; torch sees none on this machine"
    else:
        missing["cpu-inference"] = "dynamic int8 kernels run on the CPU only; this study runs on a CUDA GPU"
        if not torch.cuda.is_bf16_supported():
            missing["bf16"] = f"{torch.cuda.get_device_name(0)} does not support bf16"
        try:
            import bitsandbytes  # noqa: F401
        except Exception as err:  # a broken CUDA build raises more than ImportError
            missing["bnb-cuda"] = f"bitsandbytes does not load here ({type(err).__name__})"
    import importlib.util

    # find_spec, not import: bitsandbytes prints kernel warnings on import, and a CPU study never needs it loaded
    # unless the 8-bit optimizer is actually sampled.
    if importlib.util.find_spec("bitsandbytes") is None:
        missing["bnb-optim"] = "bitsandbytes is not installed: pip install bitsandbytes"
    if not cuda and not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        missing["compile"] = "torch.compile on the CPU needs a C compiler (cc/gcc) and none is on PATH"

    gpu_name, power_range, power_default = "", None, None
    from greenknobs.objectives.energy import _gpu

    if _gpu.gpu_count() > 0:
        gpu_name = _gpu.gpu_name(0)
        try:
            power_range = _gpu.power_limit_range_w(0)
            power_default = _gpu.current_power_limit_w(0)
        except Exception as err:  # translated vendor error: the knob is then not applicable, with the reason
            missing["power-limit"] = f"cannot read the power limit range of {gpu_name}: {err}"
    else:
        missing["power-limit"] = "needs an NVIDIA GPU visible through NVML; none here"
    return Hardware(
        device="cuda" if cuda else "cpu",
        cpu_cores=cores,
        gpu_name=gpu_name,
        power_limit_range_w=power_range,
        power_limit_default_w=power_default,
        missing=missing,
    )
