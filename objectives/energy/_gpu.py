"""The GPU device layer: counting GPUs, naming them, and capping their power, over Zeus's `get_gpus()`.

Zeus already maps NVML return codes to its own exception classes; `translate_gpu_errors` is the one
place where those become `GreenknobsError`s, so no vendor traceback reaches a user.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from zeus.device import get_gpus
from zeus.device.exception import ZeusBaseGPUError
from zeus.device.gpu.common import GPUs, ZeusGPUNoPermissionError, ZeusGPUNotSupportedError

from greenknobs._errors import GreenknobsError

logger = logging.getLogger(__name__)

# A cap that reads back within this of the request is in effect; drivers round to their own step.
POWER_LIMIT_TOLERANCE_W = 1.0


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


def gpu_count() -> int:
    """How many GPUs Zeus can see (after CUDA_VISIBLE_DEVICES); 0 when none, never raises."""
    try:
        return len(get_gpus())
    except Exception as err:  # a probe: a missing driver, library or device all mean "no GPU here"
        logger.info("no GPU visible to Zeus: %s", err)
        return 0


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
    """The limit in force now, in W: the reference the power-limit knob's levels are fractions of."""
    gpus = _gpus_with(index)
    with translate_gpu_errors():
        return gpus.get_power_management_limit(index) / 1000.0


@contextmanager
def power_limit(watts: float, index: int = 0) -> Iterator[float]:
    """Cap GPU `index` at `watts` for the block; yield the limit read back from the GPU (W).

    The limit is verified after setting it, because a cap that silently does not apply would label every
    measurement with a knob value that was never in effect. The previous limit is restored even when the
    block raises.
    """
    gpus = _gpus_with(index)
    with translate_gpu_errors():
        previous_mw = gpus.get_power_management_limit(index)
    low_w, high_w = power_limit_range_w(index)
    if not low_w <= watts <= high_w:
        raise GreenknobsError(
            f"power limit {watts:g} W is outside this GPU's range {low_w:g}–{high_w:g} W: choose a value inside it"
        )
    try:
        with translate_gpu_errors():
            gpus.set_power_management_limit(index, round(watts * 1000))
            read_back_w = gpus.get_power_management_limit(index) / 1000.0
        if abs(read_back_w - watts) > POWER_LIMIT_TOLERANCE_W:
            raise GreenknobsError(
                f"GPU {index} power limit reads {read_back_w:g} W after setting {watts:g} W, so the cap is not "
                "in effect: check `nvidia-smi -q -d POWER` and that no other tool resets it, "
                "or drop the power_limit_w knob"
            )
        yield read_back_w
    except BaseException as err:
        _restore(gpus, index, previous_mw, pending=err)
        raise
    else:
        _restore(gpus, index, previous_mw, pending=None)


def _restore(gpus: GPUs, index: int, previous_mw: int, pending: BaseException | None) -> None:
    try:
        with translate_gpu_errors("restoring the GPU power limit"):
            gpus.set_power_management_limit(index, previous_mw)
    except GreenknobsError as err:
        # The block's own error says more about what went wrong; keep it, and attach this one.
        if pending is None:
            raise
        pending.add_note(f"also: {err}")
