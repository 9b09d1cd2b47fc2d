"""A simulated task calibrated on measured runs: `Simulator(model).respond` is a `respond` for
objectives/_simulated.py's SimulatedPipeline, and `truth(config)` is its noise-free ground truth.

The model (fitted by `fit` from benchmarks/measure.py's runs, stored as JSON in benchmarks/results/):

- **Energy, per phase.** The baseline's mean joules per phase (over its validation seeds) × one factor per knob group
  and phase, each measured as a run's phase joules over that mean. Groups whose knobs interact
  are measured as full tables, not as products of single effects: (max_length, padding) — dynamic padding cuts the
  same padded tokens a shorter window cuts —, (drop_layers, drop_from) — the pruning cliff —, train_fraction (at
  0.3/0.5/0.7, linear between) and (adaptation, lora_rank, lora_alpha). Every other knob is one factor per level.
- **F1.** A run's F1 above the task's chance level c0 (the F1 of a predictor drawing labels at the training prior) is
  the "learned" part; each group scales it by q = (F1_level − c0) / (F1_baseline − c0), measured paired at seed 0,
  and the groups' q multiply. A level whose paired F1 difference lies within 2 standard deviations of a paired
  difference's own noise gets q = 1: the simulator does not invent an effect from one noisy run.
- **Noise, as measured.** Energy: log-normal with the baseline's seed-to-seed CV. F1: a part shared by every
  configuration at one seed and split (what pairing cancels), sd `f1_sd_seed`, and a part of each run's own,
  sd `f1_sd_own`, split as the baseline and the repeated configurations showed. Deterministic in (config, seed,
  split): two strategies asking the same run get the same answer (common random numbers).
- **Degenerate:** a run whose F1 does not beat the chance threshold measured on that split.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PHASES = ("data", "model", "training", "inference")
GROUPS = {  # knob -> its group (knobs alone are their own group)
    "max_length": "length", "padding": "length",
    "drop_layers": "drop", "drop_from": "drop",
    "adaptation": "adapt", "lora_rank": "adapt", "lora_alpha": "adapt",
}
# Conditional knobs are absent from the baseline configuration (their parent is off there): their declared defaults.
CONDITIONAL = {"drop_from": "top", "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.1}
NOISE_Z = 2.0  # a single level's paired F1 difference must exceed this many sds of the paired noise to count


def _key(changes: Mapping[str, Any]) -> str:
    return json.dumps(sorted((k, v) for k, v in changes.items()), default=str)


# -- fitting ------------------------------------------------------------------------------------------------------
def fit(runs: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any], chance: Mapping[str, Mapping[str, float]],
        task: str, like: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The simulator's parameters from measured runs (benchmarks/measure.py rows; `validation` rows are ignored).

    `baseline`: the space's baseline configuration; `chance`: per split {c0: random-prior F1 mean, threshold: the
    degenerate line} (objectives/_metrics.py). `like`: a model fitted on another task, whose split of the F1 noise
    into shared and own parts (and test/validation F1 ratio) stands in where this task's runs do not measure them."""
    ok = [r for r in runs if r.get("ok") and not r.get("contaminated") and r["group"] != "validation"]
    base = {(r["seed"], r["split"]): r for r in ok if r["group"] == "baseline"}
    val_seeds = sorted(s for s, sp in base if sp == "validation")
    b0 = base[(0, "validation")]
    c0 = chance["validation"]["c0"]
    energy_base = {p: statistics.fmean(base[(s, "validation")]["phase_energy_j"][p] for s in val_seeds) for p in PHASES}
    totals = [base[(s, "validation")]["energy_j"] for s in val_seeds]
    e_cv = statistics.stdev(totals) / statistics.fmean(totals)
    f1_base = {sp: statistics.fmean([r["f1"] for (s, x), r in base.items() if x == sp] or [math.nan])
               for sp in ("validation", "test")}
    if math.isnan(f1_base["test"]):  # not measured here: the other task's test/validation ratio
        f1_base["test"] = f1_base["validation"] * (like["f1_base"]["test"] / like["f1_base"]["validation"] if like else 1.0)
    # Noise: baseline spread = seed part + own part; a repeated configuration's paired difference with the baseline
    # at the same seed has 2 own parts.
    var_total = statistics.variance([base[(s, "validation")]["f1"] for s in val_seeds])
    repeated = {_key(r["changes"]) for r in ok if r["group"] == "repeat"}
    diffs = []
    for r in ok:  # every run of a repeated configuration, its seed-0 single or table run included
        if _key(r["changes"]) in repeated and r["group"] != "baseline" and (r["seed"], r["split"]) in base:
            diffs.append((_key(r["changes"]), r["split"], r["f1"] - base[(r["seed"], r["split"])]["f1"]))
    by_cfg: dict[tuple[str, str], list[float]] = {}
    for k, sp, d in diffs:
        by_cfg.setdefault((k, sp), []).append(d)
    # Pooled within-configuration variance of the paired differences (each configuration's own mean removed).
    num = sum((len(v) - 1) * statistics.variance(v) for v in by_cfg.values() if len(v) > 1)
    dof = sum(len(v) - 1 for v in by_cfg.values() if len(v) > 1)
    if dof:
        var_own = (num / dof) / 2
    else:  # no repeated configuration measured here: the other task's share of own noise (else half)
        share = like["f1_sd_own"] ** 2 / (like["f1_sd_own"] ** 2 + like["f1_sd_seed"] ** 2) if like else 0.5
        var_own = var_total * share
    var_own = min(var_own, var_total)
    sd_own, sd_seed = math.sqrt(var_own), math.sqrt(max(0.0, var_total - var_own))
    paired_sd = math.sqrt(2) * sd_own

    def factors(r: Mapping[str, Any]) -> dict[str, Any]:
        # Energy against the baseline's mean over its seeds (the seed changes the joules little, the machine's
        # state from one minute to the next more: one baseline run would bias every factor); F1 paired at the seed.
        ref = base[(r["seed"], r["split"])]
        e = {p: r["phase_energy_j"][p] / energy_base[p] if energy_base[p] > 0 else 1.0 for p in PHASES}
        d = r["f1"] - ref["f1"]
        q = (r["f1"] - c0) / (ref["f1"] - c0) if abs(d) > NOISE_Z * paired_sd else 1.0
        return {"energy": e, "q": max(0.0, q), "f1_diff": d, "significant": abs(d) > NOISE_Z * paired_sd}

    levels: dict[str, dict[str, Any]] = {}
    for r in ok:
        if r["group"] in ("single", "table") and r["seed"] == 0 and r["split"] == "validation":
            levels[_key(r["changes"])] = {"changes": r["changes"], **factors(r)}
    return {
        "task": task, "baseline": dict(baseline), "energy_base": energy_base, "energy_cv": e_cv,
        "f1_base": f1_base, "f1_sd_seed": sd_seed, "f1_sd_own": sd_own, "paired_sd": paired_sd,
        "chance": {sp: dict(v) for sp, v in chance.items()}, "levels": levels,
        "runs_used": len(ok), "baseline_seeds": val_seeds,
    }


# -- the simulator ------------------------------------------------------------------------------------------------
def _rng(*parts: Any) -> random.Random:
    return random.Random(int(hashlib.sha256(repr(parts).encode()).hexdigest()[:16], 16))


class Simulator:
    """`respond(config, seed, split)` for SimulatedPipeline and `truth(config)` for scoring what a study found."""

    def __init__(self, model: Mapping[str, Any]) -> None:
        self.model = model
        self.baseline = model["baseline"]
        self.levels = {k: v for k, v in model["levels"].items()}
        self.c0 = model["chance"]["validation"]["c0"]

    @classmethod
    def load(cls, path: str | Path) -> Simulator:
        return cls(json.loads(Path(path).read_text()))

    # which measured level stands for one group of a configuration
    def _changes(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items()
                if (k in self.baseline or k in CONDITIONAL) and self.baseline.get(k, CONDITIONAL.get(k)) != v}

    def _level(self, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.levels.get(_key(changes))

    def _group_effects(self, config: Mapping[str, Any]) -> list[tuple[dict[str, float], float]]:
        changes = self._changes(config)
        out: list[tuple[dict[str, float], float]] = []
        grouped: dict[str, dict[str, Any]] = {}
        for k, v in changes.items():
            grouped.setdefault(GROUPS.get(k, k), {})[k] = v
        for group, ch in grouped.items():
            eff = self._effect(group, ch, config)
            if eff is not None:
                out.append(eff)
        return out

    def _mix(self, a: Mapping[str, Any], b: Mapping[str, Any], w: float) -> tuple[dict[str, float], float]:
        """Linear interpolation between two measured levels (w = weight of b)."""
        return ({p: (1 - w) * a["energy"][p] + w * b["energy"][p] for p in PHASES}, (1 - w) * a["q"] + w * b["q"])

    def _interpolate(self, points: list[tuple[float, Mapping[str, Any]]], x: float) -> tuple[dict[str, float], float]:
        """Linear between the two measured levels around x (the nearest one outside their range)."""
        points = sorted(points, key=lambda p: p[0])
        for (x0, l0), (x1, l1) in zip(points, points[1:]):
            if x0 <= x <= x1:
                return self._mix(l0, l1, (x - x0) / (x1 - x0) if x1 > x0 else 0.0)
        near = min(points, key=lambda p: abs(p[0] - x))[1]
        return self._mix(near, near, 0.0)

    def _effect(self, group: str, ch: dict[str, Any], config: Mapping[str, Any]) -> tuple[dict[str, float], float] | None:
        lv = self._level(ch)
        if lv is not None:
            return lv["energy"], lv["q"]
        one = {"energy": {p: 1.0 for p in PHASES}, "q": 1.0}
        if group == "train_fraction":
            points = [(1.0, one)] + [(float(l["changes"]["train_fraction"]), l) for l in self.levels.values()
                                     if list(l["changes"]) == ["train_fraction"]]
            return self._interpolate(points, float(ch["train_fraction"]))
        if group == "drop":
            if "drop_layers" not in ch:
                return None  # drop_from without dropping is a no-op
            side = ch.get("drop_from", "top")
            points = [(float(l["changes"]["drop_layers"]), l) for l in self.levels.values()
                      if set(l["changes"]) <= {"drop_layers", "drop_from"} and "drop_layers" in l["changes"]
                      and l["changes"].get("drop_from", "top") == side]
            if not points:  # a side never measured (the second task): the measured side stands for it
                points = [(float(l["changes"]["drop_layers"]), l) for l in self.levels.values()
                          if list(l["changes"]) == ["drop_layers"]]
            return self._interpolate([(0.0, one)] + points, float(ch["drop_layers"]))
        if group == "adapt" and config.get("adaptation") == "lora":
            # LoRA at a (rank, alpha) not measured as such: LoRA's default level × each changed sub-knob's own
            # measured effect relative to it (the nearest measured level of each).
            lora = self._level({"adaptation": "lora"})
            if lora is None:
                return None
            energy, q = dict(lora["energy"]), lora["q"]
            for sub in ("lora_rank", "lora_alpha"):
                if sub in ch:
                    cands = [l for l in self.levels.values() if set(l["changes"]) == {"adaptation", sub}]
                    if cands:
                        near = min(cands, key=lambda l: abs(math.log(l["changes"][sub] / ch[sub])))
                        energy = {p: energy[p] * near["energy"][p] / lora["energy"][p] for p in PHASES}
                        q = q * (near["q"] / lora["q"] if lora["q"] > 0 else 1.0)
            return energy, q
        # Otherwise: the product of the group's knobs measured alone (a group measured as a table never gets here
        # for a measured cell).
        energy, q, found = {p: 1.0 for p in PHASES}, 1.0, False
        for k, v in ch.items():
            lv = self._level({k: v})
            if lv is not None:
                found = True
                energy = {p: energy[p] * lv["energy"][p] for p in PHASES}
                q *= lv["q"]
        return (energy, q) if found else None

    # -- the answers ----------------------------------------------------------------------------------------------
    def factors(self, config: Mapping[str, Any]) -> tuple[dict[str, float], float]:
        """Per-phase energy factors and the F1 scale q of a configuration relative to the baseline."""
        energy, q = {p: 1.0 for p in PHASES}, 1.0
        for e, qq in self._group_effects(config):
            energy = {p: energy[p] * e[p] for p in PHASES}
            q *= qq
        return energy, q

    def mean(self, config: Mapping[str, Any], split: str = "validation") -> tuple[dict[str, float], float]:
        """Noise-free phase joules and F1 of a configuration."""
        e, q = self.factors(config)
        energy = {p: self.model["energy_base"][p] * e[p] for p in PHASES}
        c0 = self.model["chance"][split]["c0"]
        base_f1 = self.model["f1_base"][split]
        return energy, c0 + (base_f1 - c0) * q

    def truth(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Ground truth on the validation split: energy ratio, F1 retention, degenerate (noise-free)."""
        energy, f1 = self.mean(config)
        base_e = sum(self.model["energy_base"].values())
        return {"energy_ratio": sum(energy.values()) / base_e, "retention": f1 / self.model["f1_base"]["validation"],
                "degenerate": f1 <= self.model["chance"]["validation"]["threshold"], "f1": f1}

    def respond(self, config: Mapping[str, Any], seed: int, split: str):
        from greenknobs.objectives import Response

        energy, f1 = self.mean(config, split)
        key = _key(self._changes(config))
        r_own = _rng("own", key, seed, split)
        r_seed = _rng("seed", seed, split)
        scale = math.exp(r_own.gauss(0.0, self.model["energy_cv"]))
        # The test split's own noise where it was measured (`test_noise`), the validation split's elsewhere.
        noise = self.model.get("test_noise", {}) if split == "test" else {}
        f1 = (f1 + r_seed.gauss(0.0, noise.get("f1_sd_seed", self.model["f1_sd_seed"]))
              + r_own.gauss(0.0, noise.get("f1_sd_own", self.model["f1_sd_own"])))
        f1 = min(1.0, max(0.0, f1))
        degenerate = f1 <= self.model["chance"][split]["threshold"]
        return Response({p: e * scale for p, e in energy.items()}, f1, degenerate=degenerate,
                        degenerate_reason="simulated: F1 at or below the chance threshold" if degenerate else "")

    def __call__(self, config: Mapping[str, Any], seed: int, split: str):
        return self.respond(config, seed, split)


def test_noise(journals: list[Path]) -> dict[str, Any]:
    """The test split's noise from real confirmation runs: the two-way residual (a run's own) and seed-effect
    standard deviations of macro-F1 over every configuration and seed of the `:confirm` twins in `journals`
    (records/_noise.py, `two_way`), each study's configurations kept apart."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from greenknobs.search import records as gk_noise

    by_config: dict[tuple[str, str], list[Any]] = {}
    for journal in journals:
        storage = JournalStorage(JournalFileBackend(str(journal)))
        for summary in optuna.get_all_study_summaries(storage):
            if not summary.study_name.endswith(":confirm"):
                continue
            twin = optuna.load_study(study_name=summary.study_name, storage=storage)
            for t in twin.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
                if "confirm_of" not in t.user_attrs:
                    continue  # a search model served for the spread alone, at a search seed
                key = (str(journal), json.dumps(t.user_attrs["greenknobs.config"], sort_keys=True))
                by_config.setdefault(key, []).append(
                    gk_noise.RunMeasure(int(t.user_attrs["confirm_seed"]), float(t.values[0]), float(t.values[1])))
    spread = gk_noise.two_way(gk_noise.cells_of(by_config))
    return {"f1_sd_own": spread.f1_sd, "f1_sd_seed": spread.seed_sd, "dof": spread.dof,
            "configurations": len(by_config), "runs": sum(len(v) for v in by_config.values()),
            "source": [str(j) for j in journals]}
