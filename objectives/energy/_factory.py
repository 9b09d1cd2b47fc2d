"""Choosing a meter: measure when the machine can, estimate (and say so) when it cannot."""

from __future__ import annotations

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy._estimate import EstimateMeter
from greenknobs.objectives.energy._gpu import gpu_probe, host_gpu_count
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
        return EstimateMeter(watts_per_core, reason=_estimate_reason())

    indices = _visible_gpu_indices(gpu_indices)
    rapl = rapl_is_measurable()
    shared = _cpu_shared_with_other_gpus(indices)
    if indices or rapl:
        return ZeusMeter(indices, rapl=rapl and not shared, rapl_excluded=shared if rapl else "")
    if kind == "zeus":
        raise GreenknobsError(
            'meter kind "zeus" found nothing to measure (no GPU energy counter via NVML, no readable RAPL): '
            'use meter kind "estimate"'
        )
    return EstimateMeter(watts_per_core, reason="no GPU energy counters, no RAPL on this machine")


def _cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _estimate_reason() -> str:
    cuda = _cuda_device_count()
    if cuda:
        return f'chosen with kind "estimate"; CPU only: the {cuda} CUDA GPU(s) training runs on are not counted'
    return 'chosen with kind "estimate"'


def _cpu_shared_with_other_gpus(indices: list[int]) -> str:
    """Why this worker must not meter the CPU packages ("" when it may): RAPL counts a whole package, and a worker
    that meters only some of the host's GPUs shares the packages with the workers on the others; each would count
    all of it. So only a process that meters every GPU of the host meters the packages."""
    host = host_gpu_count()
    if not indices or len(indices) >= host:
        return ""
    return (f"CPU packages not metered: this worker meters {len(indices)} of the host's {host} GPUs and shares "
            "the CPU packages with the workers on the others")


def _visible_gpu_indices(requested: list[int] | None) -> list[int]:
    count, why = gpu_probe()
    cuda = _cuda_device_count()
    if cuda and not count:
        # Training runs on the GPU; an estimate of the CPU alone would leave the GPU's joules out, unlabelled.
        raise GreenknobsError(
            f"torch trains on {cuda} CUDA GPU(s) but NVML cannot read their energy ({why or 'no GPU visible'}): "
            "fix the NVIDIA driver / nvidia-ml-py, or run on the CPU with CUDA_VISIBLE_DEVICES=\"\", "
            'or choose meter kind "estimate" (CPU only, labelled)'
        )
    if requested is None:
        return list(range(count))
    missing = [i for i in requested if not 0 <= i < count]
    if missing:
        raise GreenknobsError(
            f"gpu_indices {missing} are not visible (this machine shows {count} GPU(s)): pass indices below {count}"
        )
    return list(dict.fromkeys(requested))
