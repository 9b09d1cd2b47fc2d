"""The GPU device layer: counting GPUs, naming them, reading their power limits and, when the user opts in, capping
them, over Zeus's `get_gpus()`.

Setting a power limit changes a card other people may share after this process; greenknobs sets one only with
GREENKNOBS_SET_POWER_LIMITS=1 in the environment (`set_power_limit_w` is the one place a limit is set, and it
refuses without the opt-in). Without it, greenknobs reads the limits (range, default, in force) and measures the
card as it finds it.

Zeus already maps NVML return codes to its own exception classes; `translate_gpu_errors` is the one
place where those become `GreenknobsError`s, so no vendor traceback reaches a user.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from zeus.device import get_gpus
from zeus.device.exception import ZeusBaseGPUError
from zeus.device.gpu import nvidia as _nvidia
from zeus.device.gpu.common import GPUs, ZeusGPUNoPermissionError, ZeusGPUNotSupportedError

from greenknobs._errors import GreenknobsError

logger = logging.getLogger(__name__)

# A cap that reads back within this of the request is in effect; drivers round to their own step.
POWER_LIMIT_TOLERANCE_W = 1.0

# The opt-in: only with this set to 1 may greenknobs change a GPU's power limit (cap it, restore it).
SET_POWER_LIMITS_ENV = "GREENKNOBS_SET_POWER_LIMITS"
OPT_IN_MISSING = (f"setting the GPU power limit is off, so the card runs as it is found: set {SET_POWER_LIMITS_ENV}=1 "
                  "to let greenknobs cap it (and restore it afterwards)")


def setting_power_limits_allowed() -> bool:
    """Whether the user opted in to greenknobs setting GPU power limits (GREENKNOBS_SET_POWER_LIMITS=1)."""
    return os.environ.get(SET_POWER_LIMITS_ENV, "") == "1"


def _require_opt_in(fallback: str) -> None:
    if not setting_power_limits_allowed():
        raise GreenknobsError(f"{OPT_IN_MISSING}, or {fallback}")


class PowerJournal(Protocol):
    """Where a cap is written down before it is set, so that a worker killed under it leaves a record behind
    (search/study/_power.py writes it to the study's storage)."""

    def capping(self, gpu: int, nvml_index: int, original_w: float, default_w: float, cap_w: float) -> None: ...

    def restored(self, gpu: int, nvml_index: int, limit_w: float) -> None: ...


@contextmanager
def translate_gpu_errors(
    action: str = "setting the GPU power limit",
    feature: str = "power limits",
    fallback: str = "drop the power_limit_w knob",
) -> Iterator[None]:
    """Turn Zeus GPU errors raised inside the block into one-line `GreenknobsError`s."""
    try:
        yield
    except ZeusGPUNoPermissionError:
        raise GreenknobsError(
            f"{action} needs root or the Zeus daemon (ZEUSD_SOCK_PATH): run as root or start zeusd, or {fallback}"
        ) from None
    except ZeusGPUNotSupportedError as err:
        raise GreenknobsError(f"this GPU does not support {feature} ({_vendor_message(err)}): {fallback}") from None
    except ZeusBaseGPUError as err:
        raise GreenknobsError(
            f"{action} failed with a GPU driver error ({_vendor_message(err)}): "
            f"check the GPU with nvidia-smi, or {fallback}"
        ) from None


def _vendor_message(err: Exception) -> str:
    return str(err).strip() or type(err).__name__


def gpu_probe() -> tuple[int, str]:
    """How many GPUs Zeus can see (after CUDA_VISIBLE_DEVICES), and why none when it sees none; never raises."""
    try:
        return len(get_gpus()), ""
    except Exception as err:  # a probe: a missing driver, library or device all mean "no GPU here"
        logger.info("no GPU visible to Zeus: %s", err)
        return 0, _vendor_message(err)


def gpu_count() -> int:
    """How many GPUs Zeus can see (after CUDA_VISIBLE_DEVICES); 0 when none, never raises."""
    return gpu_probe()[0]


def host_gpu_count() -> int:
    """Every NVIDIA GPU of this host, whatever CUDA_VISIBLE_DEVICES hides; 0 when NVML sees none."""
    if gpu_count() == 0:
        return 0
    try:
        return int(_nvidia.pynvml.nvmlDeviceGetCount())
    except Exception as err:  # NVML answered get_gpus() a moment ago; a failure here means "cannot tell"
        logger.info("cannot count this host's GPUs: %s", err)
        return gpu_count()


def nvml_index(index: int) -> int:
    """GPU `index` as NVML numbers it on this host (CUDA_VISIBLE_DEVICES renumbers what torch and Zeus see):
    the number nvidia-smi -i takes."""
    gpus = _gpus_with(index)
    return int(getattr(gpus.gpus[index], "gpu_index", index))


def _gpus_with(index: int) -> GPUs:
    count = gpu_count()
    if not 0 <= index < count:
        seen = f"indices 0–{count - 1}" if count else "no GPU at all"
        raise GreenknobsError(f"GPU index {index} does not exist (this machine shows {seen}): pick a visible GPU")
    return get_gpus()


def gpu_name(index: int) -> str:
    """The GPU's model name, e.g. "NVIDIA H100 80GB HBM3"."""
    gpus = _gpus_with(index)
    with translate_gpu_errors("reading the GPU name", "name queries", "check the GPU with nvidia-smi"):
        name = gpus.get_name(index)
    # Older NVML bindings return bytes.
    return name.decode() if isinstance(name, bytes) else str(name)


def power_limit_range_w(index: int = 0) -> tuple[float, float]:
    """The (min, max) power limit this GPU accepts, in W."""
    gpus = _gpus_with(index)
    with translate_gpu_errors():
        low_mw, high_mw = gpus.get_power_management_limit_constraints(index)
    return low_mw / 1000.0, high_mw / 1000.0


def current_power_limit_w(index: int = 0) -> float:
    """The limit in force now, in W, as NVML reads it back."""
    gpus = _gpus_with(index)
    with translate_gpu_errors("reading the GPU power limit"):
        return gpus.get_power_management_limit(index) / 1000.0


@_nvidia._handle_nvml_errors  # NVML return codes -> Zeus's exception classes, as Zeus's own calls get them
def _default_limit_mw(gpus: GPUs, index: int) -> int:
    # Zeus resets to this limit but has no getter for it; the handle is the one Zeus opened.
    return _nvidia.pynvml.nvmlDeviceGetPowerManagementDefaultLimit(gpus.gpus[index].handle)


def default_power_limit_w(index: int = 0) -> float:
    """NVML's default limit (the driver's, whatever cap is in force now): what the power-limit knob's levels are
    fractions of and what power_limit_w = 0 means."""
    gpus = _gpus_with(index)
    with translate_gpu_errors("reading the GPU's default power limit"):
        return _default_limit_mw(gpus, index) / 1000.0


def set_power_limit_w(watts: float, index: int = 0, *, action: str = "setting the GPU power limit",
                      fallback: str = "drop the power_limit_w knob") -> float:
    """Set GPU `index`'s limit to `watts` and read it back; a limit that does not read back is an error. Refused,
    before NVML is touched, unless the user opted in (GREENKNOBS_SET_POWER_LIMITS=1)."""
    _require_opt_in(fallback)
    gpus = _gpus_with(index)
    with translate_gpu_errors(action, fallback=fallback):
        gpus.set_power_management_limit(index, round(watts * 1000))
        read_back_w = gpus.get_power_management_limit(index) / 1000.0
    if abs(read_back_w - watts) > POWER_LIMIT_TOLERANCE_W:
        raise GreenknobsError(
            f"GPU {index} power limit reads {read_back_w:g} W after setting {watts:g} W, so the cap is not "
            f"in effect: check `nvidia-smi -q -d POWER` and that no other tool resets it, or {fallback}"
        )
    return read_back_w


def restore_command(index: int, watts: float) -> str:
    return f"sudo nvidia-smi -i {nvml_index(index)} -pl {watts:g}"


def limit_in_force_w(index: int = 0) -> tuple[float, str]:
    """What power_limit_w = 0 runs under, read back, and its label: "" at NVML's default limit, else a one-line
    note saying the card was found capped (by another tool, a killed run, the machine's owner), which the trial
    records and runs under; greenknobs never resets a limit it did not set."""
    limit_w, default_w = current_power_limit_w(index), default_power_limit_w(index)
    if abs(limit_w - default_w) > POWER_LIMIT_TOLERANCE_W:
        return limit_w, f"found at {limit_w:g} W, not its default {default_w:g} W: ran under the limit in force"
    return limit_w, ""


@contextmanager
def power_limit(watts: float, index: int = 0, journal: PowerJournal | None = None) -> Iterator[float]:
    """Cap GPU `index` at `watts` for the block; yield the limit read back from the GPU (W).

    The limit is verified after setting it, because a cap that silently does not apply would label every
    measurement with a knob value that was never in effect, and read again when the block ends, since a cap
    another tool reset during the trial was not in effect either. The previous limit goes to `journal` before
    anything changes, and is restored even when the block raises. Refused, with nothing read or set, unless the
    user opted in (GREENKNOBS_SET_POWER_LIMITS=1).
    """
    _require_opt_in("drop the power_limit_w knob")
    gpus = _gpus_with(index)
    with translate_gpu_errors("reading the GPU power limit"):
        previous_mw = gpus.get_power_management_limit(index)
    low_w, high_w = power_limit_range_w(index)
    if not low_w <= watts <= high_w:
        raise GreenknobsError(
            f"power limit {watts:g} W is outside this GPU's range {low_w:g}–{high_w:g} W: choose a value inside it"
        )
    physical = nvml_index(index)
    if journal is not None:
        journal.capping(index, physical, previous_mw / 1000.0, default_power_limit_w(index), float(watts))
    try:
        read_back_w = set_power_limit_w(watts, index)
        yield read_back_w
        still_w = current_power_limit_w(index)
        if abs(still_w - read_back_w) > POWER_LIMIT_TOLERANCE_W:
            raise GreenknobsError(
                f"GPU {index} power limit changed from {read_back_w:g} W to {still_w:g} W during the trial, so the "
                "cap was not in effect throughout: stop whatever else sets GPU power limits, or drop the "
                "power_limit_w knob"
            )
    except BaseException as err:
        _restore(gpus, index, previous_mw, pending=err, journal=journal)
        raise
    else:
        _restore(gpus, index, previous_mw, pending=None, journal=journal)


def _restore(gpus: GPUs, index: int, previous_mw: int, pending: BaseException | None,
             journal: PowerJournal | None) -> None:
    try:
        restored_w = set_power_limit_w(previous_mw / 1000.0, index, action="restoring the GPU power limit",
                                       fallback=f"restore it with `{restore_command(index, previous_mw / 1000.0)}`")
    except GreenknobsError as err:
        # The block's own error says more about what went wrong; keep it, and attach this one. The journal keeps
        # the cap on record, so the next `run` or `worker` on this host restores it or refuses to start.
        if pending is None:
            raise
        pending.add_note(f"also: {err}")
        return
    if journal is not None:
        journal.restored(index, nvml_index(index), restored_w)
