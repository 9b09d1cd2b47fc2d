"""Power and false-recommendation rate of the confirmation's verdict, simulated: the rule of this release (paired at
the seed, variance pooled over the confirmation, one-sided tests, Holm across training families (a fixed sequence
within one), sequential looks with α
spent by records._noise.alpha_spent) against the rule it replaced (two-sided 95% Student-t intervals of per-seed
ratios at a fixed K, recommended when the retention interval clears the floor and the saving interval clears 0).

Each simulated study draws the test-split runs of its candidates and the baseline from the model in
records/_noise.py (a seed effect shared by every configuration, each run's own noise; log-normal joules), with the
noise measured on the default task's real test-split runs (benchmarks/results/default-study-monitored*, 48 runs of 16
configurations in 5 studies: benchmarks.searchbench.sim.test_noise, stored as `test_noise` in
results/sim-default.json): a run's own F1 sd 0.0088 (28 dof; 0.0045-0.0137 by study, the issue's example 0.0137 is
the second column), seed sd 0.023, baseline test macro-F1 0.59, energy's own log-sd 0.07 (0.03-0.09 within a
study). The verdicts come from the library's own `decide` / `sequential`, not a copy.

    python -m benchmarks.verdict_power --studies 1000 --out benchmarks/results/verdict_power.csv
    python -m benchmarks.verdict_power --studies 1000 --k-max 6 --rho 0.5 1 2 3 --out benchmarks/results/verdict_power_rho.csv
    python -m benchmarks.verdict_power --spread --studies 4000 --k-max 3 6 --rho 0.25 0.5 1 --out benchmarks/results/verdict_power_spread.csv

`--spread` puts the search's screen in front of the confirmation (`search_spread`: the baseline at `--search-seeds`
validation seeds, the default study's 3) and compares the confirmation with the search's models served on the test
split for the F1 spread and without, on the same draws.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import statistics
import sys
import time
from pathlib import Path

from greenknobs.search import records as rec


BASE_F1 = 0.59  # the default task's baseline test macro-F1 (seeds 5-9)
SEED_SD = 0.023  # shared by every configuration at a seed (test split)
ENERGY_SEED_SD = 0.03
ENERGY_SD = 0.07  # a run's own log-joules noise (within a study, test split)
FLOOR = 0.95


def old_rule(cand: dict[int, rec.RunMeasure], base: dict[int, rec.RunMeasure], r: float) -> bool:
    """The rule of 73b64c3: per-seed ratios, two-sided 95% t intervals, retention low >= floor and saving low > 0."""
    seeds = sorted(set(cand) & set(base))
    if len(seeds) < 2:
        return False
    sav = rec.t_interval([1 - cand[s].energy_j / base[s].energy_j for s in seeds])
    ret = rec.t_interval([cand[s].f1 / base[s].f1 for s in seeds])
    return ret.low >= r and sav.low > 0


SERVE_SD = 0.001  # F1 noise between two servings of one trained model (int8 against fp32 moved F1 by ≤ 1.3% here)


class World:
    """The ground truth of one simulated study: per candidate (true retention, true saving[, the candidate whose
    trained model it serves]). A serving sibling shares its family's trained model at every seed: the training's
    noise is drawn once per family and seed, and the sibling's run is recorded as served (`reused`)."""

    def __init__(self, truths: list[tuple[float, ...]], own_sd: float, rng: random.Random) -> None:
        self.truths = truths
        self.own_sd = own_sd
        self.rng = rng
        self.seed_fx: dict[int, tuple[float, float]] = {}
        self.trained: dict[tuple[int, int], float] = {}
        self.cand: dict[int, dict[int, rec.RunMeasure]] = {c: {} for c in range(len(truths))}
        self.base: dict[int, rec.RunMeasure] = {}

    def run(self, c: int | None, seed: int) -> rec.RunMeasure:
        a, b = self.seed_fx.setdefault(seed, (self.rng.gauss(0, SEED_SD), self.rng.gauss(0, ENERGY_SEED_SD)))
        ret, sav = (1.0, 0.0) if c is None else self.truths[c][:2]
        joules = 1000.0 * (1 - sav) * math.exp(b + self.rng.gauss(0, ENERGY_SD))
        if c is None:
            return rec.RunMeasure(seed, joules, BASE_F1 + a + self.rng.gauss(0, self.own_sd), training=f"b{seed}")
        family = self.truths[c][2] if len(self.truths[c]) > 2 else c
        reused = (family, seed) in self.trained
        if not reused:
            self.trained[(family, seed)] = self.rng.gauss(0, self.own_sd)
        noise = self.trained[(family, seed)]
        f1 = BASE_F1 * ret + a + noise + (self.rng.gauss(0, SERVE_SD) if family != c else 0.0)
        return rec.RunMeasure(seed, joules, f1, training=f"{family}-{seed}", reused=reused)

    def measure(self, seed: int, targets: list[int | None]) -> None:
        for t in targets:
            if t is None:
                self.base.setdefault(seed, self.run(None, seed))
            else:
                self.cand[t].setdefault(seed, self.run(t, seed))

    def runs(self):
        return self.cand, self.base


def simulate(truths: list[tuple[float, ...]], own_sd: float, studies: int, k_first: int, k_max: int,
             old_k: int, seed: int, rho: float = rec.SPENDING_RHO) -> dict[str, float]:
    """Recommendation rates of candidate 0 (and of any candidate) under both rules, and the seeds the new one used."""
    rng = random.Random(seed)
    new_rec, old_rec, any_false_new, any_false_old, used = 0, 0, 0, 0, []
    bad = [c for c, (ret, sav, *_) in enumerate(truths) if ret < FLOOR or sav <= 0]
    for _ in range(studies):
        w = World(truths, own_sd, rng)
        seeds = list(range(100, 100 + max(k_max, old_k)))
        stats, looks = rec.sequential(w.measure, w.runs, list(range(len(truths))), seeds, k_first, k_max, FLOOR, rho=rho)
        used.append(max(looks))
        new_rec += stats[0].recommended
        any_false_new += any(stats[c].recommended for c in bad)
        w.measure(seeds[0], [])  # the old rule at its fixed K, on the same world (more seeds drawn as needed)
        for s in seeds[:old_k]:
            w.measure(s, [None, *range(len(truths))])
        olds = {c: old_rule({s: w.cand[c][s] for s in seeds[:old_k]}, w.base, FLOOR) for c in range(len(truths))}
        old_rec += olds[0]
        any_false_old += any(olds[c] for c in bad)
    return {"new_rate": new_rec / studies, "old_rate": old_rec / studies, "new_false_any": any_false_new / studies,
            "old_false_any": any_false_old / studies, "new_seeds_mean": statistics.fmean(used)}


def search_spread(w: World, search_seeds: int = 3, re_measure: int = rec.RE_MEASURE_RUNS
                  ) -> tuple[set[int], dict[int, dict[int, rec.RunMeasure]]]:
    """The search before the confirmation, in its worst case for the spread: the baseline at `search_seeds` seeds on
    validation (the noise floor), each training family screened by the library's own `NoiseFloor.judge` on its
    validation runs (at the floor's first seed, re-measured at the next ones while the screen asks), and the
    models it trained served on the test split. A model's own noise is drawn once and is the same on both splits
    (validation and test scores of one model perfectly correlated: the selection on validation reaches the test
    runs whole). Returns the families the screen passed and the spread runs ({key: {seed: run}}, keyed as `decide`
    takes them: -1 the baseline), at seeds -1, -2, ... (disjoint from the confirmation's)."""
    seeds = [-1 - i for i in range(search_seeds)]
    fx = {s: (w.rng.gauss(0, SEED_SD), w.rng.gauss(0, ENERGY_SEED_SD)) for s in seeds}

    def run(ret: float, sav: float, seed: int, key: int) -> rec.RunMeasure:
        a, b = fx[seed]
        joules = 1000.0 * (1 - sav) * math.exp(b + w.rng.gauss(0, ENERGY_SD))
        return rec.RunMeasure(seed, joules, BASE_F1 * ret + a + w.rng.gauss(0, w.own_sd), training=f"s{key}{seed}",
                              reused=True)

    floor_runs = {s: run(1.0, 0.0, s, -1) for s in seeds}
    floor = rec.floor_of(floor_runs.values(), FLOOR)
    heads = {}
    for c, truth in enumerate(w.truths):
        heads.setdefault(truth[2] if len(truth) > 2 else c, c)
    measured: dict[int, dict[int, rec.RunMeasure]] = {-1: floor_runs}
    passed: set[int] = set()
    for family, c in heads.items():
        ret, sav = w.truths[c][:2]
        runs = [run(ret, sav, seeds[0], family)]
        while True:
            pool = rec.two_way(rec.cells_of({**{k: list(v.values()) for k, v in measured.items()}, family: runs}))
            verdict = floor.judge(runs, re_measure, pool)
            if not verdict.needs_more_seeds:
                break
            runs.append(run(ret, sav, seeds[len(runs)], family))
        measured[family] = {r.seed: r for r in runs}
        if verdict.feasible:
            passed.add(family)
    return passed, {k: v for k, v in measured.items() if len(v) >= 2}


def simulate_spread(truths: list[tuple[float, ...]], own_sd: float, studies: int, k_first: int, k_max: int,
                    seed: int, rho: float = rec.SPENDING_RHO, search_seeds: int = 3) -> dict[str, float]:
    """Candidate 0's recommendation rate among the studies whose screen passed its family, with the search's models
    served on the test split for the spread (`search_spread`) and without, on the same draws."""
    rng = random.Random(seed)
    passes, with_rec, without_rec, with_seeds, without_seeds, spread_runs = 0, 0, 0, [], [], []
    for _ in range(studies):
        w = World(truths, own_sd, rng)
        passed, spread = search_spread(w, search_seeds)
        cands = [c for c, t in enumerate(truths) if (t[2] if len(t) > 2 else c) in passed]
        if 0 not in cands:
            continue
        passes += 1
        seeds = list(range(100, 100 + k_max))
        a, looks_a = rec.sequential(w.measure, w.runs, cands, seeds, k_first, k_max, FLOOR, rho=rho, spread=spread)
        b, looks_b = rec.sequential(w.measure, w.runs, cands, seeds, k_first, k_max, FLOOR, rho=rho)
        with_rec += a[0].recommended
        without_rec += b[0].recommended
        with_seeds.append(max(looks_a))
        without_seeds.append(max(looks_b))
        spread_runs.append(sum(len(v) for v in spread.values()))
    n = max(passes, 1)
    return {"screen_pass": passes / studies, "passed": passes, "with_spread_rate": with_rec / n,
            "without_spread_rate": without_rec / n, "with_spread_seeds_mean": statistics.fmean(with_seeds or [0]),
            "without_spread_seeds_mean": statistics.fmean(without_seeds or [0]),
            "spread_runs_mean": statistics.fmean(spread_runs or [0])}


def wilson(k: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial rate (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(round(k * n), n, alpha=0.05, method="wilson")
    return float(lo), float(hi)


SCENARIOS = [  # (name, truths of the candidates; candidate 0 is the one reported)
    ("power: retention 1.00, saving 30%", [(1.00, 0.30)]),
    ("power: retention 0.98, saving 30%", [(0.98, 0.30)]),
    ("false: retention 0.94, saving 30%", [(0.94, 0.30)]),
    ("false: retention 0.90, saving 30%", [(0.90, 0.30)]),
    ("false: retention 1.00, saving 0", [(1.00, 0.0)]),
    ("false at the floor: retention 0.95, saving 30%", [(0.95, 0.30)]),
    ("3 candidates, one at 0.94: its rate", [(0.94, 0.30), (1.00, 0.30), (0.99, 0.40)]),
    ("retention 1.00, saving 30%, with 3 serving siblings: its rate",
     [(1.00, 0.30), (1.00, 0.28, 0), (0.995, 0.29, 0), (0.99, 0.27, 0)]),
    ("3 serving siblings at 0.94: any recommended", [(0.94, 0.30), (0.94, 0.28, 0), (0.935, 0.29, 0), (0.93, 0.27, 0)]),
]


def write(rows: list[dict], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=1000)
    ap.add_argument("--own-sd", type=float, nargs="+", default=[0.0088, 0.0137])
    ap.add_argument("--k-max", type=int, nargs="+", default=[3, 4, 6])
    ap.add_argument("--k-first", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rho", type=float, nargs="+", default=[rec.SPENDING_RHO],
                    help="alpha-spending exponents to compare (default: the shipped one)")
    ap.add_argument("--spread", action="store_true",
                    help="simulate the search's screen too and compare the confirmation with the search's models "
                         "served on the test split for the spread and without (rates among studies the screen passed)")
    ap.add_argument("--search-seeds", type=int, default=3,
                    help="--spread: the baseline's validation seeds in the simulated search (the default study's "
                         "baseline_repeats)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/verdict_power.csv"))
    args = ap.parse_args(argv)
    if args.spread:
        return main_spread(args)
    rows = []
    started = time.perf_counter()
    cells = [(s, sd, k, rho) for rho in args.rho for s in SCENARIOS for sd in args.own_sd for k in args.k_max]
    for i, ((name, truths), sd, k, rho) in enumerate(cells):
        # each (scenario, sd, K) cell starts from its own seed whatever the ρ (draws part once the looks differ)
        res = simulate(truths, sd, args.studies, min(args.k_first, k), k, k, args.seed + i % (len(cells) // len(args.rho)),
                       rho)
        ret_sd = math.sqrt(2) * sd / BASE_F1
        row = {"scenario": name, "own_f1_sd": sd, "per_seed_retention_sd": round(ret_sd, 4), "k": k, "rho": rho,
               "studies": args.studies, **{k2: round(v, 4) for k2, v in res.items()}}
        for key in ("new_rate", "old_rate"):
            lo, hi = wilson(res[key], args.studies)
            row[key + "_ci"] = f"[{lo:.3f}, {hi:.3f}]"
        rows.append(row)
        left = (time.perf_counter() - started) / (i + 1) * (len(cells) - i - 1)
        print(f"[{i + 1}/{len(cells)}] {name} sd {sd} K {k} ρ {rho:g}: new {res['new_rate']:.3f} (seeds "
              f"{res['new_seeds_mean']:.2f}), old {res['old_rate']:.3f} · {left:.0f} s left", file=sys.stderr)
    return write(rows, args.out)


def main_spread(args: argparse.Namespace) -> int:
    rows = []
    started = time.perf_counter()
    cells = [(s, sd, k, rho) for rho in args.rho for s in SCENARIOS for sd in args.own_sd for k in args.k_max]
    for i, ((name, truths), sd, k, rho) in enumerate(cells):
        # each (scenario, sd, K) cell starts from its own seed whatever the ρ (draws part once the looks differ)
        res = simulate_spread(truths, sd, args.studies, min(args.k_first, k), k,
                              args.seed + i % (len(cells) // len(args.rho)), rho, args.search_seeds)
        row = {"scenario": name, "own_f1_sd": sd, "k": k, "rho": rho, "search_seeds": args.search_seeds,
               "studies": args.studies,
               **{k2: round(v, 4) for k2, v in res.items()}}
        for key in ("with_spread_rate", "without_spread_rate"):
            lo, hi = wilson(res[key], res["passed"]) if res["passed"] else (math.nan, math.nan)
            row[key + "_ci"] = f"[{lo:.3f}, {hi:.3f}]"
        rows.append(row)
        left = (time.perf_counter() - started) / (i + 1) * (len(cells) - i - 1)
        print(f"[{i + 1}/{len(cells)}] {name} sd {sd} K {k} ρ {rho:g}: screen {res['screen_pass']:.3f}, with spread "
              f"{res['with_spread_rate']:.3f} ({res['with_spread_seeds_mean']:.2f} seeds), without "
              f"{res['without_spread_rate']:.3f} ({res['without_spread_seeds_mean']:.2f}) · {left:.0f} s left",
              file=sys.stderr)
    return write(rows, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
