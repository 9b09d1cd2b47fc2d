"""GPU power caps that cannot go stale: each cap a trial sets is written to the study's storage *before* it is set,
with the limit it replaces, and marked restored afterwards. A worker killed under a cap (SIGKILL, the OOM killer,
a lost node) leaves that record behind, and the next `run` or `worker` on the host restores the limit, or, when it
may not (no root, no zeusd), refuses to start with the command that restores it — instead of running every later
trial, the baseline first, under a cap nobody asked for.

Caps are set only with the user's opt-in (GREENKNOBS_SET_POWER_LIMITS=1, objectives/energy/_gpu.py). Without it,
opening a study on a GPU host only reads the limits and writes them down; a card found at a non-default limit runs
under it, recorded ("found_w") and labelled on every trial, never reset.

The record is a study record (`records.study_record`, a system attribute) per GPU of a host (`power_cap:HOST:nvmlN`,
N as `nvidia-smi -i` numbers it): {"state": "capped" | "restored" | "default" | "found", "original_w", "default_w",
"cap_w", "pid", ...}. Opening a study on a GPU host also writes the GPU's default limit there, which is what
power_limit_w = 0 means and what the knob's levels are fractions of.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import optuna
import psutil

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import energy
from greenknobs.search import records as rec
from greenknobs.search.study._lost import process_alive, this_host

PREFIX = "power_cap:"


def record_key(nvml_index: int, host: str | None = None) -> str:
    return f"{PREFIX}{host or this_host()}:nvml{nvml_index}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class StudyPowerJournal:
    """The pipeline's power journal (objectives/energy/_gpu.PowerJournal), writing to one study's storage."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study

    def capping(self, gpu: int, nvml_index: int, original_w: float, default_w: float, cap_w: float) -> None:
        me = psutil.Process()
        rec.set_study_record(self.study, record_key(nvml_index), {
            "state": "capped", "host": this_host(), "gpu": gpu, "nvml_index": nvml_index, "gpu_name": energy.gpu_name(gpu),
            "original_w": original_w, "default_w": default_w, "cap_w": cap_w,
            "pid": me.pid, "pid_started": me.create_time(), "since": _now(),
        })

    def restored(self, gpu: int, nvml_index: int, limit_w: float) -> None:
        key = record_key(nvml_index)
        record = dict(rec.study_record(self.study, key, {}))
        record.update(state="restored", limit_w=limit_w, restored_at=_now())
        rec.set_study_record(self.study, key, record)


def caps_on_record(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """Every host GPU's record in the study, capped or not."""
    return rec.study_records(study, PREFIX)


def guard(ctx: Any) -> None:
    """For `open_study`: restore (or refuse over) caps this host left behind, record the GPUs' limits, and, with the
    opt-in, give the pipeline the journal its trials write their caps to. Nothing to do on a host without readable
    NVML power limits."""
    if ctx.pipeline.hardware.power_limit_default_w is None:
        return
    restore_left_caps(ctx.study)
    if ctx.pipeline.hardware.has("power-limit"):
        ctx.pipeline.power_journal = StudyPowerJournal(ctx.study)


def restore_left_caps(study: optuna.Study, stream: Any = None) -> None:
    stream = stream or sys.stderr
    for gpu in range(energy.gpu_count()):
        physical = energy.nvml_index(gpu)
        key = record_key(physical)
        record = rec.study_record(study, key) or {}
        name = energy.gpu_name(gpu)
        if record.get("state") == "capped":
            _restore_left_cap(study, key, record, gpu, name, stream)
        limit_w, default_w = energy.current_power_limit_w(gpu), energy.default_power_limit_w(gpu)
        found = abs(limit_w - default_w) > energy.POWER_LIMIT_TOLERANCE_W
        if found:  # not this study's cap: measured as found, labelled on every trial, never reset
            print(f"greenknobs: GPU {gpu} ({name}) is at {limit_w:g} W, not its default {default_w:g} W; no trial of "
                  "this study set that limit, so trials run under it and record it", file=stream, flush=True)
        if record.get("state") != "capped":  # the limits on record, as read on this host
            rec.set_study_record(study, key, {**record, "state": "found" if found else "default", "host": this_host(),
                                              "nvml_index": physical, "gpu_name": name, "default_w": default_w,
                                              "found_w": limit_w, "range_w": list(energy.power_limit_range_w(gpu))})


def _restore_left_cap(study: optuna.Study, key: str, record: dict[str, Any], gpu: int, name: str,
                      stream: Any) -> None:
    pid = record.get("pid")
    if pid is not None and pid != os.getpid() and process_alive(pid, record.get("pid_started")):
        raise GreenknobsError(
            f"GPU {gpu} ({name}) is capped at {record.get('cap_w', 0):g} W by worker pid {pid} on this host, which "
            "is still running: run one worker per GPU; stop that worker or give this one another GPU with "
            "CUDA_VISIBLE_DEVICES"
        )
    original_w = float(record["original_w"])
    limit_w = energy.current_power_limit_w(gpu)
    if abs(limit_w - original_w) > energy.POWER_LIMIT_TOLERANCE_W:
        try:
            energy.set_power_limit_w(original_w, gpu, action="restoring the power limit a stopped worker left")
        except GreenknobsError:
            why = "" if energy.setting_power_limits_allowed() else f" ({energy.SET_POWER_LIMITS_ENV} is not 1)"
            raise GreenknobsError(
                f"GPU {gpu} ({name}) still has the {limit_w:g} W cap that worker pid {pid} set before it stopped "
                f"mid-trial, and it cannot be restored from here{why}; restore the {original_w:g} W it had with "
                f"`{energy.restore_command(gpu, original_w)}` and start again"
            ) from None
        print(f"greenknobs: GPU {gpu} ({name}) restored to {original_w:g} W: worker pid {pid} stopped mid-trial "
              f"and left its {limit_w:g} W cap on", file=stream, flush=True)
    rec.set_study_record(study, key, {**record, "state": "restored", "limit_w": energy.current_power_limit_w(gpu),
                                      "restored_at": _now(), "restored_by": os.getpid()})
