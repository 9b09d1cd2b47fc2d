"""What this machine can do, as named capabilities that knobs declare they need.

A knob value that needs a missing capability is left out of the space with the reason, never run as a no-op.
A value that needs a *costly* capability runs here but slowly (bitsandbytes' int8 / NF4 layers on a CPU): it is
searched only where a study names it ([search.ranges] or [fixed]), at the study's cost, and listed as such.

Capabilities:
    cuda, fp16, pin-memory      a CUDA GPU that torch can use
    bf16                        bf16 autocast / weights (every CPU; GPUs that support it)
    bnb-layers                  bitsandbytes' int8 and NF4 Linear layers (QLoRA, bnb-int8 / bnb-nf4 serving)
    bnb-optim                   bitsandbytes' 8-bit AdamW
    cpu-inference               torch's dynamic int8 kernels (CPU only)
    compile                     torch.compile's default backend (a C compiler on the CPU)
    power-limit                 an NVIDIA GPU whose power limit NVML can read and set, and the user's opt-in to
                                setting it (GREENKNOBS_SET_POWER_LIMITS=1); without it the limits are only read
    several-cores               more than one CPU core for this process (else fewer threads is no change)
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import shutil
from dataclasses import dataclass, field

NO_CUDA = "needs a CUDA GPU; torch sees none on this machine"
# bitsandbytes runs its int8 / NF4 layers and its 8-bit optimizer on the CPU from this release on.
BNB_CPU_SINCE = (0, 48)
BNB_ON_CPU = "bitsandbytes' int8/NF4 layers run on this CPU, slowly"


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu": where training and inference run
    cpu_cores: int  # the cores this process may run on (its share of the host when it is one of several workers)
    gpu_name: str = ""
    power_limit_range_w: tuple[float, float] | None = None
    power_limit_default_w: float | None = None  # NVML's default limit: the reference of the power-limit levels
    missing: dict[str, str] = field(default_factory=dict)  # capability -> why it is missing here
    costly: dict[str, str] = field(default_factory=dict)  # capability -> why it runs here only at a study's cost

    def has(self, capability: str) -> bool:
        return capability not in self.missing

    def why_not(self, needs: frozenset[str]) -> str | None:
        for capability in sorted(needs):
            if capability in self.missing:
                return self.missing[capability]
        return None

    def cost_of(self, needs: frozenset[str]) -> str | None:
        """Why a value needing `needs` is searched here only where a study names it (None: searched by default)."""
        for capability in sorted(needs):
            if capability in self.costly:
                return self.costly[capability]
        return None


def allotted_cores() -> int:
    """The cores this process may run on (its CPU affinity), not every core of the host."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def bnb_version() -> tuple[int, ...] | None:
    """The installed bitsandbytes release, read without importing it (the import prints kernel warnings and costs
    seconds); None when it is not installed."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return None
    try:
        text = importlib.metadata.version("bitsandbytes")
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


@functools.lru_cache(maxsize=1)
def detect() -> Hardware:
    import torch

    cores = allotted_cores()
    missing: dict[str, str] = {}
    costly: dict[str, str] = {}
    cuda = torch.cuda.is_available()
    bnb = bnb_version()
    if not cuda:
        for cap in ("cuda", "fp16", "pin-memory"):
            missing[cap] = NO_CUDA
        if bnb is None:
            missing["bnb-layers"] = "bitsandbytes is not installed: pip install bitsandbytes"
        elif bnb < BNB_CPU_SINCE:
            missing["bnb-layers"] = (f"bitsandbytes {'.'.join(map(str, bnb))} has no CPU kernels: "
                                     "pip install 'bitsandbytes>=0.48', or use a CUDA GPU")
        else:
            costly["bnb-layers"] = BNB_ON_CPU
    else:
        missing["cpu-inference"] = "dynamic int8 kernels run on the CPU only; this study runs on a CUDA GPU"
        if not torch.cuda.is_bf16_supported():
            missing["bf16"] = f"{torch.cuda.get_device_name(0)} does not support bf16"
        try:
            import bitsandbytes  # noqa: F401
        except Exception as err:  # a broken CUDA build raises more than ImportError
            missing["bnb-layers"] = f"bitsandbytes does not load here ({type(err).__name__})"
    # find_spec, not import: bitsandbytes prints kernel warnings on import, and a CPU study never needs it loaded
    # unless the 8-bit optimizer is actually sampled.
    if bnb is None:
        missing["bnb-optim"] = "bitsandbytes is not installed: pip install bitsandbytes"
    if not cuda and not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        missing["compile"] = "torch.compile on the CPU needs a C compiler (cc/gcc) and none is on PATH"
    if cores < 2:
        missing["several-cores"] = (
            f"this process may use {cores} CPU core (its share of the host): fewer threads than that is no change")

    gpu_name, power_range, power_default = "", None, None
    from greenknobs.objectives import energy

    if energy.gpu_count() > 0:
        gpu_name = energy.gpu_name(0)
        try:
            power_range = energy.power_limit_range_w(0)
            power_default = energy.default_power_limit_w(0)
        except Exception as err:  # translated vendor error: the knob is then not applicable, with the reason
            missing["power-limit"] = f"cannot read the power limit range of {gpu_name}: {err}"
        else:
            if not energy.setting_power_limits_allowed():  # read-only: the knob needs the opt-in
                missing["power-limit"] = energy.OPT_IN_MISSING
    else:
        missing["power-limit"] = "needs an NVIDIA GPU visible through NVML; none here"
    return Hardware(
        device="cuda" if cuda else "cpu",
        cpu_cores=cores,
        gpu_name=gpu_name,
        power_limit_range_w=power_range,
        power_limit_default_w=power_default,
        missing=missing,
        costly=costly,
    )
