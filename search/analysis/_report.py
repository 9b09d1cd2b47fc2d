"""`report`: what a study found, in a page a person takes in within a minute, plus the plots behind it.

report.md (headline, Pareto set, single-knob effects, predicted vs observed cascades, pairs, importance),
report.json (every number in it), PNGs (matplotlib) and report.html (plotly; plotly.js beside it, once).
The folder is built beside its destination and swapped in whole; the study is only read.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from greenknobs._errors import GreenknobsError
from greenknobs.search.analysis._outdir import marker_name, replacing_folder
from greenknobs.search import records as rec
from greenknobs.search.records import SPEC_ATTR, baseline_config, is_estimated, knob_differences, min_f1_retention

MARKER = marker_name("report")  # in every folder report wrote: the licence to replace it
VERDICTS = ("compounds", "overlap", "conflict", "synergy")


# -- analysis -------------------------------------------------------------------------------------------------
def analyse(study: optuna.Study) -> dict[str, Any]:
    """Every number the report shows, as plain data (also written as report.json)."""
    from greenknobs.search.study import confirmed

    base_trial = rec.baseline_trial(study)
    if base_trial is None:
        raise GreenknobsError(f"study '{study.study_name}' has no finished baseline trial, so nothing to compare "
                              "with: run `greenknobs run` first")
    base_cfg = baseline_config(study)
    trials = study.get_trials(deepcopy=False)
    effects = rec.effects_of(trials, base_cfg)
    ref = effects.reference
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    roles = {r: sum(1 for t in done if rec.role_of(t) == r) for r in ("baseline", "search", "repeat")}
    stats = confirmed(study)
    floor = rec.noise_floor(study)
    pareto = []
    for t in rec.pareto_trials(study):
        e, f = float(t.values[0]), float(t.values[1])
        paired = stats.get(t.number)
        pareto.append({"trial": t.number, "changed": knob_differences(t.user_attrs.get(rec.CONFIG, {}), base_cfg),
                       "energy_j": e, "saving": ref.saving(e), "f1": f, "f1_retention": f / ref.f1 if ref.f1 else None,
                       "runs": int(t.user_attrs.get("runs", 1)),
                       "confirmed": paired.to_dict() if paired is not None else None})
    searched = rec.study_record(study, SPEC_ATTR, {}).get("search", [])
    alone = {k for k, _ in effects.singles}
    return {
        "study": study.study_name,
        "energy_source": sorted({t.user_attrs["energy_source"] for t in done if "energy_source" in t.user_attrs}),
        "estimated": is_estimated(study),
        "energy_description": (rec.result_of(base_trial).energy_description if rec.result_of(base_trial) else ""),
        "f1_kind": base_trial.user_attrs.get("f1_kind", "F1"),
        "min_f1_retention": min_f1_retention(study),
        "trials": {"complete": len(done), **roles,
                   "failed": sum(1 for t in trials if t.state == TrialState.FAIL),
                   "runs": sum(rec.budget_runs(t) for t in done)},
        "noise_floor": floor.summary() if floor is not None else None,
        "noise_floor_text": floor.text(rec.energy_word(study)) if floor is not None else None,
        "reference": {"runs": list(ref.runs), "energy_j": ref.energy_j, "energy_std": ref.energy_std,
                      "noise": ref.noise, "noise_assumed": ref.noise is None, "tolerance_unit": ref.tolerance_unit,
                      "f1": ref.f1, "f1_std": ref.f1_std,
                      "by_seed": [m.to_dict() for m in (floor.runs if floor is not None else ())]},
        "pareto": pareto,
        "singles": [_single_row(lv, g, ref) for lv, g in sorted(effects.singles.items(), key=_level_order)],
        "not_measured_alone": [k for k in searched if k not in alone],
        "cascades": [_cascade_row(c) for c in effects.cascades],
        "importance": importances(study),
        "early_stop": early_stopping(study, trials, floor),
    }


def early_stopping(study: optuna.Study, trials: list, floor: Any) -> dict[str, Any]:
    """Every trial early stopping stopped, what it spent and what it would have cost (a linear projection), and the
    replay of the rules over the completed monitored trials: how many they would have stopped that ended feasible."""
    stopped = []
    for t in trials:
        s = t.user_attrs.get(rec.STOPPED)
        if t.state == TrialState.PRUNED and s:
            projected = rec.projected_j(t)
            stopped.append({"trial": t.number, "rule": s["rule"], "at": s["at"], "reason": s["reason"],
                            "spent_j": rec.spent_j(t), "projected_j": projected,
                            "saved_j": max(0.0, projected - rec.spent_j(t)) if projected else None})
    replays = {}
    if floor is not None:
        for mode in ("safe", "aggressive"):
            got = rec.replay(trials, floor, mode)
            replays[mode] = {"monitored": len(got), "would_stop": [r.trial for r in got if r.stop],
                             "false_stops": [r.trial for r in got if r.false_stop],
                             "would_save_j": sum(r.energy_j - r.spent_j for r in got if r.stop)}
    return {"mode": rec.study_record(study, SPEC_ATTR, {}).get("early_stop"), "stopped": stopped,
            "saved_j": sum(s["saved_j"] or 0.0 for s in stopped),
            "monitor_j": sum(rec.scoring_j(t) for t in trials), "study_j": sum(rec.spent_j(t) for t in trials),
            "replay": replays}


def _level_order(item: tuple[rec.Level, rec.Group]) -> tuple:
    from greenknobs.spaces import KNOBS

    names = [k.name for k in KNOBS]
    (knob, value), _ = item
    return (names.index(knob) if knob in names else len(names), str(type(value)), value)


def _single_row(level: rec.Level, g: rec.Group, ref: rec.Reference) -> dict[str, Any]:
    knob, value = level
    tol = rec.tolerance(ref, 1)
    verdict = "saves" if g.saving > tol else "costs" if g.saving < -tol else "within noise"
    return {"knob": knob, "phase": rec.phase_of(knob), "value": value, "runs": list(g.runs), "n": g.n,
            "saving": g.saving, "saving_std": g.saving_std, "f1": g.f1, "f1_change": g.f1 - ref.f1,
            "f1_std": g.f1_std, "feasible": g.feasible, "verdict": verdict, "tolerance": tol}


def _cascade_row(c: rec.Cascade) -> dict[str, Any]:
    return {"runs": list(c.group.runs), "changed": c.group.changes, "phases": c.phases, "n": c.group.n,
            "observed": c.observed, "observed_std": c.group.saving_std, "predicted": c.predicted,
            "singles": {f"{k}={v}": s for (k, v), s in c.singles.items()},
            "missing": [f"{k}={v}" for k, v in c.missing], "score": c.score, "verdict": c.verdict,
            "tolerance": c.tolerance, "feasible": c.group.feasible, "f1": c.group.f1}


def importances(study: optuna.Study) -> dict[str, Any]:
    """Per-objective knob importance with PED-ANOVA, over the study's complete non-repeat trials."""
    trials = [t for t in study.get_trials(deepcopy=True, states=(TrialState.COMPLETE,))
              if rec.role_of(t) != "repeat" and t.values is not None]
    q = 0.25 if len(trials) < 40 else 0.1
    method = (f"PED-ANOVA (Optuna's default evaluator, in its conditional form: a knob that exists only under another, "
              f"such as lora_rank under LoRA, is judged within the trials where it exists), over {len(trials)} "
              f"complete trials (repeats left out); 'important' means the knob's values differ between the "
              f"best {100 * q:.0f}% of trials and the rest, for that objective alone")
    out: dict[str, Any] = {"method": method, "energy": {}, "f1": {}, "note": None, "trials": len(trials)}
    if len(trials) < 3 or not any(t.params for t in trials):
        out["note"] = f"not computed: {len(trials)} complete trial(s); importance needs at least 3"
        return out
    copy = optuna.create_study(directions=study.directions)
    copy.add_trials(trials)
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=q)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, target in (("energy", lambda t: t.values[0]), ("f1", lambda t: -t.values[1])):
            try:
                got = optuna.importance.get_param_importances(copy, evaluator=evaluator, target=target)
            except (ValueError, RuntimeError) as err:
                out["note"] = f"not computed: {err}"
                return out
            out[name] = {k: float(v) for k, v in got.items()}
    return out


# -- markdown -------------------------------------------------------------------------------------------------
def _pct(x: float | None, signed: bool = True) -> str:
    """A saving in words ("52.6% less energy"), or a plain share ("96.2%") with signed=False."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return rec.saving_text(x) if signed else f"{100 * x:.1f}%"


def _knobs(changed: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in changed.items()) or "baseline configuration"


def _runs(runs: list[int]) -> str:
    return ", ".join(map(str, runs))


def report_markdown(a: dict[str, Any]) -> str:
    ref = a["reference"]
    est = a["estimated"]
    j = "J (estimated)" if est else "J"
    tr = a["trials"]
    lines = [f"# greenknobs report — study `{a['study']}`", ""]
    source = ("**Energy is estimated**, not measured: " + a["energy_description"].removeprefix("estimated: ")
              + ". Every joule and saving below is an estimate.") if est else f"Energy measured ({', '.join(a['energy_source'])})."
    lines += [f"{tr['complete']} complete trials, {tr['runs']} training runs ({tr['baseline']} baseline, "
              f"{tr['search']} search, {tr['repeat']} repeats; {tr['failed']} failed). {source}", ""]
    if a["noise_floor_text"]:
        lines += [f"**The {a['noise_floor_text']}.**", ""]
    lines += ["## Headline", ""]
    lines += _headline(a, j)
    lines += ["", "## Pareto candidates (feasible beyond the noise, not dominated)", ""]
    if a["pareto"]:
        lines += [f"Search figures (validation split) are against the mean of the baseline's runs ({ref['energy_j']:,.1f}"
                  f" {j}, F1 {ref['f1']:.4f}). Confirmation figures are paired on the held-out test split: mean and "
                  "95% interval over the paired seeds.", ""]
        lines += [f"| trial | knobs changed | energy, {j} (validation) | saved | {a['f1_kind']} F1 | F1 kept | runs | "
                  "confirmation (test split, paired) |", "|---|---|---|---|---|---|---|---|"]
        for p in a["pareto"]:
            lines.append(f"| {p['trial']} | {_knobs(p['changed'])} | {p['energy_j']:,.1f} | {_pct(p['saving'])} | "
                         f"{p['f1']:.4f} | {_pct(p['f1_retention'], False)} | {p['runs']} | "
                         f"{_confirmed_cell(p['confirmed'])} |")
    else:
        lines.append("No candidate yet: no trial saved a measurable amount of energy above the F1 floor.")
    lines += ["", "![Pareto front](pareto.png)", "", "![Energy by phase](phase_energy.png)"]
    lines += ["", "## Single-knob effects", ""]
    tol1 = rec.tolerance(_ref(a), 1)
    sigma = (f"{_pct(ref['noise'], False)} (std of the baseline's {len(ref['runs'])} runs)"
             if not ref["noise_assumed"] else f"unknown — one baseline run; {_pct(rec.DEFAULT_NOISE, False)} assumed")
    lines += [f"Trials that differ from the baseline in exactly one knob, at that value. Savings are against the mean "
              f"of the baseline runs ({ref['energy_j']:,.1f} {j}, F1 {ref['f1']:.4f}). Noise floor σ = {sigma}; "
              f"a saving within ±2σ√2 = ±{100 * tol1:.1f} points is \"within noise\".", ""]
    lines += _baseline_runs(a, j)
    if a["singles"]:
        lines += ["| knob | phase | value | runs | energy saved | ± std | F1 change | verdict | feasible |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in a["singles"]:
            lines.append(f"| {s['knob']} | {s['phase']} | {s['value']} | {s['n']} ({_runs(s['runs'])}) | "
                         f"{_pct(s['saving'])} | {_pct(s['saving_std'], False)} | {s['f1_change']:+.4f} | "
                         f"{s['verdict']} | {'yes' if s['feasible'] else '**no**'} |")
        lines += ["", "![Single-knob effects](single_knobs.png)"]
    else:
        lines.append("No trial changes exactly one knob.")
    if a["not_measured_alone"]:
        lines += ["", "Never measured alone: " + ", ".join(f"`{k}`" for k in a["not_measured_alone"])
                  + " (`greenknobs run --sampler cascade` screens every knob alone before combining)."]
    lines += ["", "## Cascades: predicted vs observed", ""]
    lines += ["Predicted saving = 1 − Π(1 − sᵢ) over the measured single savings sᵢ of the same knobs at the same values "
              "(the orthogonality model of Rajput, Saad & Sharma, 2025); orthogonality = observed / predicted. Verdicts, "
              "with tolerance t = 2σ√(k+1) for k knobs: **compounds** |observed − predicted| ≤ t; **synergy** observed "
              "> predicted + t; **overlap** below the prediction but not below the best single knob − t; **conflict** "
              "below the best single knob − t (combining undid savings).", ""]
    if a["cascades"]:
        lines += ["| trial(s) | knobs | phases | predicted | observed | orthogonality | verdict | feasible |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in a["cascades"]:
            pred = _pct(c["predicted"]) if c["predicted"] is not None else "no single measurement of " + ", ".join(c["missing"])
            score = f"{c['score']:.2f}" if c["score"] is not None else "—"
            lines.append(f"| {_runs(c['runs'])} | {_knobs(c['changed'])} | {', '.join(c['phases'])} | {pred} | "
                         f"{_pct(c['observed'])} | {score} | {c['verdict']} (t = {100 * c['tolerance']:.1f} pts) | "
                         f"{'yes' if c['feasible'] else 'no'} |")
        lines += ["", "![Predicted vs observed](cascade.png)"]
    else:
        lines.append("No trial changes two or more knobs yet.")
    lines += ["", "## Pairs of knobs", ""]
    lines += _pairs(a)
    lines += ["", "## Which knobs matter", ""]
    lines += _importance(a["importance"])
    lines += ["", "## Early stopping", ""]
    lines += _early_stop_lines(a["early_stop"], j)
    lines += ["", "Interactive plots: [report.html](report.html) (Pareto front, hypervolume, energy by phase, "
              "single knobs, predicted vs observed). Every number here: report.json.", ""]
    return "\n".join(lines)


def _ref(a: dict[str, Any]) -> rec.Reference:
    r = a["reference"]
    return rec.Reference(tuple(r["runs"]), r["energy_j"], r["energy_std"], r["f1"], r["f1_std"])


def _baseline_runs(a: dict[str, Any], j: str) -> list[str]:
    """The baseline's runs seed by seed: where they disagree is where the noise floor comes from."""
    runs = a["reference"]["by_seed"]
    if len(runs) < 2:
        return []
    out = [f"| baseline run (seed) | energy, {j} | {a['f1_kind']} F1 |", "|---|---|---|"]
    for r in runs:
        out.append(f"| {r['seed']} | {r['energy_j']:,.1f} | {r['f1']:.4f} |")
    return out + [""]


def _headline(a: dict[str, Any], j: str) -> list[str]:
    out = []
    if a["pareto"]:
        best = max(a["pareto"], key=lambda p: p["saving"])
        runs = f"mean of {best['runs']} runs" if best["runs"] > 1 else "measured once"
        out.append(f"- Cheapest candidate of the search: trial {best['trial']} ({_knobs(best['changed'])}) — "
                   f"{_pct(best['saving'])} than the baseline at {_pct(best['f1_retention'], False)} of its F1 "
                   f"(floor {_pct(a['min_f1_retention'], False)}; validation, {runs}).")
        recommended = [p for p in a["pareto"] if p["confirmed"] and p["confirmed"]["recommended"]]
        if recommended:
            top = max(recommended, key=lambda p: p["confirmed"]["saving"]["mean"])
            c = top["confirmed"]
            out.append(f"- Recommended after paired confirmation on the test split: trial {top['trial']} — "
                       f"{rec.interval_text(rec.Interval.from_dict(c['saving']), 'saving')}, keeping "
                       f"{rec.interval_text(rec.Interval.from_dict(c['retention']), 'retention')} "
                       f"({len(c['seeds'])} paired seeds).")
        elif any(p["confirmed"] for p in a["pareto"]):
            out.append("- After paired confirmation on the test split, no candidate is recommended (see why below).")
        else:
            out.append("- Not confirmed on the test split yet: nothing is recommended.")
    else:
        out.append("- No candidate yet.")
    ref = a["reference"]
    if ref["noise_assumed"]:
        out.append(f"- Noise floor unknown (one baseline run): verdicts assume σ = {_pct(rec.DEFAULT_NOISE, False)}.")
    else:
        out.append(f"- Noise floor σ = {_pct(ref['noise'], False)} of the baseline's joules over {len(ref['runs'])} runs"
                   + ("; savings smaller than that are not shown to be real." if ref["noise"] > 0.02 else "."))
    savers = [s for s in a["singles"] if s["verdict"] == "saves" and s["feasible"]]
    if savers:
        top = sorted(savers, key=lambda s: -s["saving"])[:3]
        out.append("- Biggest single knobs: " + "; ".join(f"`{s['knob']}={s['value']}` {_pct(s['saving'], False)}"
                                                          for s in top) + ".")
    judged = [c for c in a["cascades"] if c["predicted"] is not None]
    if judged:
        counts = {v: sum(1 for c in judged if c["verdict"] == v) for v in VERDICTS}
        out.append(f"- {len(judged)} combination(s) set against the orthogonality model: "
                   + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ".")
    return out


def _confirmed_cell(s: dict[str, Any] | None) -> str:
    if not s:
        return "not confirmed"
    if not s["seeds"]:
        return s["reason"]
    mark = "**recommended**" if s["recommended"] else "not recommended"
    return (f"{mark}: {rec.interval_text(rec.Interval.from_dict(s['saving']), 'saving')}, kept "
            f"{rec.interval_text(rec.Interval.from_dict(s['retention']), 'retention')}, {len(s['seeds'])} seeds — "
            f"{s['reason']}")


def _early_stop_lines(e: dict[str, Any], j: str) -> list[str]:
    out = []
    if e["stopped"]:
        out += [f"{len(e['stopped'])} trial(s) stopped early: they spent {sum(s['spent_j'] for s in e['stopped']):,.1f} "
                f"{j}; run to the end they would have cost about {e['saved_j']:,.1f} {j} more (a linear projection of "
                "their training, inference left out: an estimate).", "",
                "| trial | rule | stopped at | spent | reason |", "|---|---|---|---|---|"]
        for s in e["stopped"]:
            out.append(f"| {s['trial']} | {s['rule']} | {100 * s['at']:.0f}% of training | {s['spent_j']:,.1f} | "
                       f"{s['reason']} |")
        out.append("")
    else:
        out.append("No trial was stopped early" + (f" (mode: {e['mode']})." if e["mode"] else "."))
    if e["monitor_j"]:
        out.append(f"Scoring the evaluation slices cost {e['monitor_j']:,.1f} {j} in all, counted in what the search "
                   "spent, not in any configuration's joules.")
        out += ["", _net_line(e, j), ""]
    for mode, r in e["replay"].items():
        if r["monitored"]:
            out.append(f"- Replayed over the {r['monitored']} completed monitored search trial(s), the **{mode}** rules "
                       f"would have stopped {len(r['would_stop'])} ({', '.join(map(str, r['would_stop'])) or 'none'}), "
                       f"saving {r['would_save_j']:,.1f} {j}; false stops (stopped, yet ended feasible): "
                       f"**{len(r['false_stops'])}**" + (f" ({', '.join(map(str, r['false_stops']))})"
                                                          if r["false_stops"] else "") + ".")
    return out


def _net_line(e: dict[str, Any], j: str) -> str:
    """Whether early stopping paid on this study: what its stops saved against what scoring the slices cost, as a
    share of what the same study would have spent without early stopping (confirmation left out). Stops save a
    run's last reports' worth; scoring is paid on every run, the noise floor's included: on a small study it can
    cost more than it saves (benchmarks/README.md, "Early stopping")."""
    monitor_j = e["monitor_j"]
    if e["mode"] == "monitor":
        saved_j = e["replay"].get("safe", {}).get("would_save_j", 0.0)
        off_j = e["study_j"] - monitor_j
        head = (f"Had the safe rule been on, its stops would have saved about {saved_j:,.1f} {j} against the "
                f"scoring's {monitor_j:,.1f} {j}")
    else:
        saved_j = e["saved_j"]
        off_j = e["study_j"] + saved_j - monitor_j
        head = (f"Net: the stops saved about {saved_j:,.1f} {j} (projected) against the scoring's {monitor_j:,.1f} "
                f"{j}")
    net = (saved_j - monitor_j) / off_j if off_j > 0 else 0.0
    line = (f"{head}: **{rec.saving_text(net)}** than the same runs without early stopping (the noise floor and "
            f"the search, confirmation apart: about {off_j:,.1f} {j})")
    if net < 0:
        line += ("; on a study of this shape `early_stop = \"off\"` spends less (benchmarks/README.md, "
                 "\"Early stopping\")")
    return line + "."


def _pairs(a: dict[str, Any]) -> list[str]:
    pairs = [c for c in a["cascades"] if len(c["changed"]) == 2 and c["predicted"] is not None]
    if not pairs:
        return ["No two-knob combination whose knobs were both measured alone."]
    out = []
    for verdict in VERDICTS:
        chosen = [c for c in pairs if c["verdict"] == verdict]
        if chosen:
            out.append(f"- **{verdict}**: " + "; ".join(
                f"{' + '.join(f'`{k}={v}`' for k, v in c['changed'].items())} (trial {_runs(c['runs'])}: predicted "
                f"{_pct(c['predicted'])}, observed {_pct(c['observed'])})" for c in chosen))
    out.append("")
    out.append("Only exact two-knob trials are judged as pairs; larger combinations are in the table above.")
    return out


def _importance(imp: dict[str, Any]) -> list[str]:
    if imp.get("note"):
        return [f"Knob importance {imp['note']}."]
    out = []
    for key, label in (("energy", "energy"), ("f1", "F1")):
        ranked = sorted(imp[key].items(), key=lambda kv: -kv[1])
        out.append(f"- {label}: " + (", ".join(f"{k} {v:.2f}" for k, v in ranked) or "none"))
    out += ["", f"Method: {imp['method']}." + (" With this few trials, read the ranking as rough."
                                                if imp.get("trials", 0) < 20 else "")]
    return out


# -- writing ----------------------------------------------------------------------------------------------------
def build_report(study: optuna.Study, out_dir: str | os.PathLike) -> Path:
    """Write the report folder for `study`; returns the path of its report.md."""
    out = Path(out_dir)
    analysis = analyse(study)
    with replacing_folder(out, "report", study.study_name) as tmp:
        from greenknobs.search.analysis import _figures as plots

        plots.write_pngs(study, analysis, tmp)
        plots.write_html(study, analysis, tmp)
        (tmp / "report.md").write_text(report_markdown(analysis), encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(analysis, indent=2, default=str), encoding="utf-8")
    return out / "report.md"
