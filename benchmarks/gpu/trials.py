"""The GPU path on a real GPU: the baseline and one trial per GPU-only knob value on one pipeline (one warm-up), then
the power cap — set, read back, a trial under it, restored, NVML's default limit on record — or the exact error.

    python benchmarks/gpu/trials.py --out benchmarks/gpu/results            # on the GPU machine (run.sh calls it)
    python benchmarks/gpu/trials.py --out /tmp/r --task fortunes-tiny --energy estimate   # a dry run on a CPU

Writes OUT/trials.json (every result, or why it failed) and OUT/trials.md (the table). Each trial's failure is
recorded and the next one runs: a knob that cannot run here is a finding, not a crash.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# One value per GPU-only knob (and bitsandbytes' 8-bit AdamW, which only a GPU runs at speed), each changed alone.
GPU_KNOBS: list[tuple[str, Any]] = [
    ("train_precision", "fp16"),
    ("infer_precision", "fp16"),
    ("pin_memory", True),
    ("adaptation", "qlora"),
    ("quantization", "bnb-int8"),
    ("quantization", "bnb-nf4"),
    ("optimizer", "adamw-8bit"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--task", default="fortunes")
    parser.add_argument("--energy", default="zeus", help="zeus on the GPU (measured or fail); estimate for a dry run")
    parser.add_argument("--fixed", default="epochs=1", help="knobs fixed in every trial, k=v,k=v (TOML values)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    import tomllib

    from greenknobs._errors import GreenknobsError
    from greenknobs.objectives import Pipeline, TrialFailed, get_task
    from greenknobs.objectives.energy import _gpu, make_meter

    fixed = tomllib.loads("\n".join(f"{kv.split('=', 1)[0].strip()} = {kv.split('=', 1)[1].strip()}"
                                    for kv in args.fixed.split(",") if kv.strip()))
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    pipeline = Pipeline(get_task(args.task), meter=make_meter(args.energy), seed=0,
                        progress=lambda event, **i: print(f"  {event} {i}", flush=True) if event != "step" else None)
    hw = pipeline.hardware
    print(f"hardware: device {hw.device}, GPU {hw.gpu_name or 'none'}, power range {hw.power_limit_range_w}, "
          f"default {hw.power_limit_default_w} W; missing {sorted(hw.missing)}; costly {sorted(hw.costly)}", flush=True)
    print(f"meter: {pipeline.meter.description}", flush=True)
    # The study's space, as a study of these knobs would have it: the warm-up pays every first-use cost they reach.
    status = pipeline.space().status
    runnable = {name: [v for n, v in GPU_KNOBS if n == name and (v in status[name].applicable_values
                                                                 or v in status[name].value_costs)]
                for name, _ in GPU_KNOBS if status[name].reason is None}
    ranges = {name: {"choices": [status[name].knob.baseline, *vals]} for name, vals in runnable.items()
              if vals and status[name].knob.kind == "categorical"}
    try:
        pipeline.warm_space = pipeline.space(search=sorted(runnable), ranges=ranges, fixed=fixed)
    except GreenknobsError as err:
        print(f"warm-up space: {err}", flush=True)
    space = pipeline.space(fixed=fixed)

    def trial(label: str, knobs: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"trial": label, "knobs": knobs}
        t0 = time.perf_counter()
        try:
            result = pipeline.run(space.complete(knobs))
            record.update(status="ok", energy_j=result.energy_j, energy_source=result.energy_source,
                          phase_energy_j=result.phase_energy_j, time_s=result.time_s, f1=result.f1,
                          f1_kind=result.f1_kind, power_limit_w=result.power_limit_w,
                          quantized_linear_layers=result.quantized_linear_layers,
                          trainable_params=result.trainable_params, warmup_energy_j=result.warmup_energy_j,
                          hardware=result.hardware)
        except (GreenknobsError, TrialFailed) as err:
            record.update(status="refused" if isinstance(err, GreenknobsError) else "failed",
                          error=str(err) if isinstance(err, GreenknobsError) else err.reason)
        except Exception as err:  # a library error on this machine is a finding: record it whole
            record.update(status="error", error=f"{type(err).__name__}: {err}",
                          traceback=traceback.format_exc(limit=8))
        record["wall_s"] = round(time.perf_counter() - t0, 2)
        print(f"[{label}] {record['status']} {record.get('energy_j', '')} {record.get('error', '')}", flush=True)
        records.append(record)
        (args.out / "trials.json").write_text(json.dumps({"records": records}, indent=2, default=str))
        return record

    base = trial("baseline", {})
    for name, value in GPU_KNOBS:
        trial(f"{name}={value}", {name: value})
    power = power_cap(trial, hw, _gpu, GreenknobsError)
    summary = {"records": records, "power": power, "baseline_energy_j": base.get("energy_j"),
               "meter": pipeline.meter.description, "wall_s": round(time.perf_counter() - started, 1)}
    (args.out / "trials.json").write_text(json.dumps(summary, indent=2, default=str))
    (args.out / "trials.md").write_text(table(summary))
    print(table(summary), flush=True)
    return 0


def power_cap(trial: Any, hw: Any, gpu: Any, error: type) -> dict[str, Any]:
    """Set a cap, read it back, run a trial under it, restore it; record NVML's default limit — or the exact error."""
    out: dict[str, Any] = {}
    try:
        if gpu.gpu_count() == 0:
            out["error"] = "no GPU visible through NVML"
            return out
        out["range_w"] = gpu.power_limit_range_w(0)
        out["default_w"] = gpu.default_power_limit_w(0)
        out["before_w"] = gpu.current_power_limit_w(0)
        out["nvml_index"] = gpu.nvml_index(0)
        choices = [w for w in (hw.power_limit_default_w and _levels(hw)) or [] if w]
        if not choices:
            out["error"] = f"the power-limit knob does not apply here: {hw.missing.get('power-limit', 'no levels')}"
            return out
        level = min(choices, key=lambda w: abs(w - 0.6 * out["default_w"]))
        out["level_w"] = level
        with gpu.power_limit(level) as read_back_w:  # set and read back, outside a trial
            out["set_read_back_w"] = read_back_w
        out["after_set_and_restore_w"] = gpu.current_power_limit_w(0)
        record = trial(f"power_limit_w={level}", {"power_limit_w": level})
        out["trial_read_back_w"] = record.get("power_limit_w")
        out["trial_status"] = record["status"]
        out["after_trial_w"] = gpu.current_power_limit_w(0)
        out["restored"] = abs(out["after_trial_w"] - out["before_w"]) <= gpu.POWER_LIMIT_TOLERANCE_W
    except error as err:
        out["error"] = str(err)
    except Exception as err:
        out["error"] = f"{type(err).__name__}: {err}"
    print(f"power cap: {out}", flush=True)
    return out


def _levels(hw: Any) -> list[int]:
    from greenknobs.spaces import KNOBS_BY_NAME

    return list(KNOBS_BY_NAME["power_limit_w"].resolve(hw, None).get("choices", ()))


def table(summary: dict[str, Any]) -> str:
    base = summary.get("baseline_energy_j")
    lines = ["| trial | status | energy (J) | saved vs baseline | F1 | time (s) | power limit read back (W) | quantized layers |"
             " note |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in summary["records"]:
        e = r.get("energy_j")
        saved = f"{100 * (1 - e / base):+.1f}%" if e and base else ""
        lines.append(f"| {r['trial']} | {r['status']} | {e:,.1f} | {saved} | {r.get('f1', 0):.4f} | {r.get('time_s', 0):.1f} | "
                     f"{r.get('power_limit_w')} | {r.get('quantized_linear_layers', '')} | |" if r["status"] == "ok" else
                     f"| {r['trial']} | {r['status']} | | | | | | | {str(r.get('error', ''))[:200]} |")
    lines += ["", f"Meter: {summary['meter']}", "", "Power cap: " + json.dumps(summary["power"], default=str),
              "", f"Wall time: {summary['wall_s']} s"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
