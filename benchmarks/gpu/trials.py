"""The GPU path on a real GPU: the baseline and one trial per GPU-relevant knob value on one pipeline (one warm-up),
and the card's power limits as found (range, default, in force) — read only, never set.

    python -P benchmarks/gpu/trials.py --out benchmarks/gpu/results               # on the GPU machine (run.sh)
    python -P benchmarks/gpu/trials.py --out R --group compile                   # torch.compile, its own step
    python -P benchmarks/gpu/trials.py --out /tmp/r --task fortunes-tiny --energy estimate   # a dry run on a CPU

Writes OUT/trials[-GROUP].json (every result, or why it failed) and OUT/trials[-GROUP].md (the table). Each trial
records what served (read back from the served model), per-phase joules and seconds, the peak GPU memory, and labels
every phase whose window was too short for NVML's energy counter (Zeus's instant-power estimate stood in). A knob
that cannot run here is a finding, not a crash: its failure is recorded and the next one runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# One value per GPU-relevant knob (and bitsandbytes' 8-bit AdamW, which only a GPU runs at speed), each changed alone.
GROUPS: dict[str, list[tuple[str, Any]]] = {
    "gpu": [
        ("train_precision", "bf16"),
        ("infer_precision", "bf16"),
        ("attention", "sdpa"),
        ("train_precision", "fp16"),
        ("infer_precision", "fp16"),
        ("pin_memory", True),
        ("adaptation", "qlora"),
        ("quantization", "bnb-int8"),
        ("quantization", "bnb-nf4"),
        ("optimizer", "adamw-8bit"),
    ],
    # torch.compile warms up for a minute or two: its own step, so that the others' results never wait on it.
    "compile": [("compile", True), ("infer_compile", True)],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--task", default="fortunes")
    parser.add_argument("--energy", default="zeus", help="zeus on the GPU (measured or fail); estimate for a dry run")
    parser.add_argument("--fixed", default="epochs=1", help="knobs fixed in every trial, k=v,k=v (TOML values)")
    parser.add_argument("--group", default="gpu", choices=sorted(GROUPS), help="which knob values to run")
    parser.add_argument("--baseline-only", action="store_true", help="the baseline alone (the packaging check)")
    args = parser.parse_args(argv)
    knobs = [] if args.baseline_only else GROUPS[args.group]
    stem = "trials" if args.group == "gpu" else f"trials-{args.group}"
    args.out.mkdir(parents=True, exist_ok=True)

    import tomllib

    from greenknobs._errors import GreenknobsError
    from greenknobs.objectives import Pipeline, RunAborted, TrialFailed, get_task
    from greenknobs.objectives.energy import make_meter
    from greenknobs.objectives import energy

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
    runnable = {name: [v for n, v in knobs if n == name and (v in status[name].applicable_values
                                                                 or v in status[name].value_costs)]
                for name, _ in knobs if status[name].reason is None}
    ranges = {name: {"choices": [status[name].knob.baseline, *vals]} for name, vals in runnable.items()
              if vals and status[name].knob.kind == "categorical"}
    try:
        if runnable:
            pipeline.warm_space = pipeline.space(search=sorted(runnable), ranges=ranges, fixed=fixed)
    except GreenknobsError as err:
        print(f"warm-up space: {err}", flush=True)
    space = pipeline.space(fixed=fixed)

    def trial(label: str, values: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"trial": label, "knobs": values}
        t0 = time.perf_counter()
        _reset_peak_memory()
        try:
            try:
                result = pipeline.run(space.complete(values))
            except RunAborted as run:
                raise run.cause from None  # recorded by what ended it
            record.update(status="ok", energy_j=result.energy_j, energy_source=result.energy_source,
                          phase_energy_j=result.phase_energy_j, phase_time_s=result.phase_time_s,
                          phase_estimated=estimated_phases(result.energy_source, result.phase_time_s),
                          time_s=result.time_s, f1=result.f1, f1_kind=result.f1_kind, served=result.served,
                          power_limit_w=result.power_limit_w, power_limit_note=result.hardware.get("power_limit", ""),
                          quantized_linear_layers=result.quantized_linear_layers,
                          trainable_params=result.trainable_params, warmup_energy_j=result.warmup_energy_j,
                          warmup_time_s=result.warmup_time_s, hardware=result.hardware)
        except (GreenknobsError, TrialFailed) as err:
            record.update(status="refused" if isinstance(err, GreenknobsError) else "failed",
                          error=str(err) if isinstance(err, GreenknobsError) else err.reason)
        except Exception as err:  # a library error on this machine is a finding: record it whole
            record.update(status="error", error=f"{type(err).__name__}: {err}",
                          traceback=traceback.format_exc(limit=8))
        record["peak_gpu_memory_mib"] = _peak_memory_mib()
        record["wall_s"] = round(time.perf_counter() - t0, 2)
        print(f"[{label}] {record['status']} {record.get('energy_j', '')} {record.get('error', '')}", flush=True)
        records.append(record)
        (args.out / f"{stem}.json").write_text(json.dumps({"records": records}, indent=2, default=str))
        return record

    power = power_limits(energy)  # read before the first trial: the card as it was found
    base = trial("baseline", {})
    for name, value in knobs:
        trial(f"{name}={value}", {name: value})
    summary = {"records": records, "power": power, "baseline_energy_j": base.get("energy_j"),
               "meter": pipeline.meter.description, "fixed": fixed,
               "wall_s": round(time.perf_counter() - started, 1)}
    (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=2, default=str))
    (args.out / f"{stem}.md").write_text(table(summary))
    print(table(summary), flush=True)
    return 0 if base["status"] == "ok" else 1


def _reset_peak_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak_memory_mib() -> float | None:
    """The trial's peak GPU memory held by torch's allocator (MiB); None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def estimated_phases(source: str, phase_time_s: dict[str, float]) -> list[str]:
    """Phases whose joules are Zeus's instant-power estimate, not the counter: a measured-gpu window no longer than
    SHORT_WINDOW_S may fall back to it (objectives/energy/_zeus.py); every phase of an estimated trial is one."""
    from greenknobs.objectives.energy import SHORT_WINDOW_S

    if source == "measured-gpu":
        return [phase for phase, seconds in phase_time_s.items() if seconds <= SHORT_WINDOW_S]
    return list(phase_time_s) if source == "estimated" else []


def power_limits(gpu: Any) -> dict[str, Any]:
    """The card's power limits as found — range, NVML's default, the limit in force — read only; or why not."""
    out: dict[str, Any] = {"set_allowed": gpu.setting_power_limits_allowed()}
    try:
        if gpu.gpu_count() == 0:
            out["error"] = "no GPU visible through NVML"
        else:
            out["range_w"] = gpu.power_limit_range_w(0)
            out["default_w"] = gpu.default_power_limit_w(0)
            out["in_force_w"], out["note"] = gpu.limit_in_force_w(0)
            out["nvml_index"] = gpu.nvml_index(0)
    except Exception as err:  # a driver that answers the count but not the limits is a finding
        out["error"] = f"{type(err).__name__}: {err}"
    print(f"power limits (read only): {out}", flush=True)
    return out


def table(summary: dict[str, Any]) -> str:
    base = summary.get("baseline_energy_j")
    lines = ["| trial | status | energy (J) | saved vs baseline | F1 | data / model / training / inference (s) |"
             " peak GPU MiB | power limit (W) | served | note |", "|---|---|---:|---:|---:|---|---:|---:|---|---|"]
    for r in summary["records"]:
        if r["status"] != "ok":
            lines.append(f"| {r['trial']} | {r['status']} | | | | | {r.get('peak_gpu_memory_mib') or ''} | | | "
                         f"{str(r.get('error', '')).splitlines()[0][:200] if r.get('error') else ''} |")
            continue
        e = r["energy_j"]
        saved = f"{100 * (1 - e / base):+.1f}%" if e and base else ""
        phases = " / ".join(f"{r['phase_time_s'].get(p, 0):.2f}" for p in ("data", "model", "training", "inference"))
        note = "; ".join(x for x in (
            f"estimated phases: {', '.join(r['phase_estimated'])}" if r["phase_estimated"] else "",
            r.get("power_limit_note", "")) if x)
        lines.append(f"| {r['trial']} | ok | {e:,.1f} | {saved} | {r['f1']:.4f} | {phases} | "
                     f"{r.get('peak_gpu_memory_mib') or ''} | {r.get('power_limit_w') or ''} | "
                     f"{str(r.get('served', ''))[:80]} | {note} |")
    lines += ["", f"Meter: {summary['meter']}", "", f"Fixed: {summary['fixed']}", "",
              "Power limits (read only): " + json.dumps(summary["power"], default=str),
              "", f"Wall time: {summary['wall_s']} s"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
