"""Choosing a meter: measure when the machine can, estimate (and say so) when it cannot."""

from __future__ import annotations

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy._estimate import EstimateMeter
from greenknobs.objectives.energy._gpu import gpu_count
from greenknobs.objectives.energy._meter import EnergyMeter
from greenknobs.objectives.energy._rapl import rapl_is_measurable
from greenknobs.objectives.energy._zeus import ZeusMeter

KINDS = ("auto", "zeus", "estimate")


def make_meter(
    kind: str = "auto", *, watts_per_core: float | None = None, gpu_indices: list[int] | None = None
) -> EnergyMeter:
    """A meter of `kind`: "auto" (measure if possible, else estimate), "zeus" (measure or fail), "estimate".

    `gpu_indices` picks the GPUs to meter (default: all visible; [] meters none); `watts_per_core` only
    affects the estimate.
    """
    if kind not in KINDS:
        raise GreenknobsError(f"unknown meter kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "estimate":
        return EstimateMeter(watts_per_core)

    indices = _visible_gpu_indices(gpu_indices)
    rapl = rapl_is_measurable()
    if indices or rapl:
        return ZeusMeter(indices, rapl=rapl)
    if kind == "zeus":
        raise GreenknobsError(
            'meter kind "zeus" found nothing to measure (no GPU energy counter via NVML, no readable RAPL): '
            'use meter kind "estimate"'
        )
    return EstimateMeter(watts_per_core, reason="no GPU energy counters, no RAPL on this machine")


def _visible_gpu_indices(requested: list[int] | None) -> list[int]:
    count = gpu_count()
    if requested is None:
        return list(range(count))
    missing = [i for i in requested if not 0 <= i < count]
    if missing:
        raise GreenknobsError(
            f"gpu_indices {missing} are not visible (this machine shows {count} GPU(s)): pass indices below {count}"
        )
    return list(dict.fromkeys(requested))
