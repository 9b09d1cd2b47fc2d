"""Which real runs the simulator is built from, and which it is validated on (benchmarks/measure.py runs them).

Groups (the `group` field of each stored run):
- `baseline`: the baseline at several training seeds, validation and test split: the seed noise;
- `single`: one knob changed, at seed 0 (paired with the baseline's seed-0 run): every level of every searched knob,
  LoRA's rank and alpha under LoRA;
- `table`: the measured interactions, as full tables: max_length × padding (dynamic padding cuts the same padded
  tokens a shorter window cuts), drop_layers × drop_from (the pruning cliff), train_fraction (the data cliff);
- `repeat`: two non-baseline configurations at further seeds and on the test split: how much of a run's F1 noise is
  shared by every configuration at one seed (what pairing removes) and how much is its own;
- `validation`: combinations of several knobs, drawn at random with a fixed seed before any was measured. They are
  never used to build the simulator: its predicted vs measured on them is its published error.
"""

from __future__ import annotations

import random
from typing import Any

# The searched space of benchmarks/studies/*.toml, per task: knob -> non-baseline levels measured alone.
SINGLES: dict[str, dict[str, list[Any]]] = {
    "fortunes": {
        "tokenizer": ["rust"], "attention": ["sdpa"], "optimizer": ["adamw-8bit"], "train_precision": ["bf16"],
        "batch_size": [32], "loader_workers": [1], "cpu_threads": [1], "infer_batch_size": [32, 64],
        "quantization": ["dynamic-int8"], "adaptation": ["head", "lora"],
    },
}
# The second task measures the knobs whose effect depends on its texts (long C functions) and data; the others
# (tokenizer backend, attention kernel, 8-bit AdamW, loader workers, CPU threads) are taken from fortunes' factors.
SINGLES["project"] = {k: v for k, v in SINGLES["fortunes"].items()
                      if k not in ("tokenizer", "attention", "optimizer", "loader_workers", "cpu_threads")}
SINGLES["project"]["infer_batch_size"] = [64]
# The default study's own task (studies/default.toml: 600 / 484 / 484 fortunes, a 64-token baseline, 2 epochs) and
# its 9 knobs: what a user runs first, so the simulator the strategies are ranked on is built from it.
SINGLES["default"] = {
    "max_length": [32], "tokenizer": ["rust"], "padding": ["dynamic"], "attention": ["sdpa"],
    "train_precision": ["bf16"], "batch_size": [32], "epochs": [1], "infer_batch_size": [32, 64],
    "quantization": ["dynamic-int8"],
}
LORA: list[dict[str, Any]] = []  # LoRA's rank and alpha: not measured (LoRA alone is degenerate here: see README)
MAX_LENGTH = {"fortunes": [32, 64, 96, 128], "project": [64, 128, 256]}
BORROWED = ("tokenizer", "attention", "optimizer", "loader_workers", "cpu_threads")  # project: from fortunes
FRACTIONS = [0.3, 0.6]
DROPS = [1, 3, 5]  # 2 and 4: interpolated
VALIDATION_N = 10


def tables(task: str) -> list[tuple[str, dict[str, Any]]]:
    if task == "default":  # its interactions: dynamic padding inside a shorter window; fewer, larger steps
        return [("table", {"max_length": 32, "padding": "dynamic"}), ("table", {"batch_size": 32, "epochs": 1})]
    out = []
    lengths = MAX_LENGTH[task]
    base_len = 128
    for n in lengths:
        if n != base_len:
            out.append(("table", {"max_length": n}))
        out.append(("table", {"max_length": n, "padding": "dynamic"}))
    for d in DROPS if task == "fortunes" else [1, 5]:
        for side in ("top", "bottom") if task == "fortunes" else ("top",):  # project: smaller CPU budget
            out.append(("table", {"drop_layers": d, "drop_from": side} if side != "top" else {"drop_layers": d}))
    for f in FRACTIONS if task == "fortunes" else [0.5]:
        out.append(("table", {"train_fraction": f}))
    return out


def singles(task: str) -> list[tuple[str, dict[str, Any]]]:
    out = [("single", {k: v}) for k, levels in SINGLES[task].items() for v in levels]
    return out + ([("single", c) for c in LORA] if task == "fortunes" else [])


def validation_combos(task: str, space_levels: dict[str, list[Any]], n: int = VALIDATION_N) -> list[dict[str, Any]]:
    """n combinations of 2-5 knobs at random non-baseline levels (seeded: drawn the same way every time)."""
    rng = random.Random(f"validation-{task}")
    built = [c for _, c in singles(task) + tables(task)]  # a validation point is never one it was built from
    knobs = sorted(space_levels)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        k = rng.choice([2, 2, 3, 3, 4, 5])
        chosen = rng.sample(knobs, k)
        changes = {name: rng.choice(space_levels[name]) for name in chosen}
        if changes.get("adaptation") == "lora":
            changes["lora_rank"] = rng.choice([4, 8, 16, 32])
            changes["lora_alpha"] = rng.choice([8, 16, 32, 64])
        if changes.get("drop_layers"):
            changes["drop_from"] = rng.choice(["top", "bottom"])
        if changes not in out and changes not in built:
            out.append(changes)
    return out


def levels(task: str) -> dict[str, list[Any]]:
    lv = {k: list(v) for k, v in SINGLES[task].items()}
    if task == "default":
        return lv
    lv["max_length"] = [n for n in MAX_LENGTH[task] if n != 128]
    lv["padding"] = ["dynamic"]
    lv["drop_layers"] = DROPS
    lv["train_fraction"] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    if task != "fortunes":  # levels drawn for validation: those the simulator was calibrated to interpolate
        lv["drop_layers"] = [1, 2, 3, 4, 5]
    return lv


def plan(task: str, part: str = "all") -> list[tuple[str, dict[str, Any], int, str]]:
    v = "validation"
    parts: dict[str, list[tuple[str, dict[str, Any], int, str]]] = {}
    if task == "default":
        parts["build"] = [("baseline", {}, 0, v)] + [(g, c, 0, v) for g, c in singles(task) + tables(task)]
        parts["validation"] = [("validation", c, 0, v) for c in validation_combos(task, levels(task))]
        parts["noise"] = ([("baseline", {}, s, v) for s in (1, 2, 3, 4)]
                          + [("repeat", {"max_length": 32}, s, v) for s in (1, 2)]
                          + [("baseline", {}, s, "test") for s in (5, 6, 7)])
        order = ["build", "validation", "noise"] if part == "all" else part.split(",")
        return [p for name in order for p in parts[name]]
    parts["build"] = ([("baseline", {}, 0, v)] + [(g, c, 0, v) for g, c in singles(task) + tables(task)])
    noise = [("baseline", {}, s, v) for s in (1, 2, 3) if task == "fortunes" or s < 3]
    if task == "fortunes":  # the second task: the baseline's spread only (its split into shared and own parts and
        noise += [("repeat", {"max_length": 64}, s, v) for s in (1, 2)]  # the test split's level: as fortunes')
        noise += [("baseline", {}, s, "test") for s in (3, 4, 5)]
    parts["noise"] = noise
    # Plus the combinations the old screening study ran (benchmarks/results/2026-11-27/screening-report), fixed in
    # advance too.
    fixed = [{"max_length": 32, "train_precision": "bf16", "quantization": "dynamic-int8"},
             {"max_length": 64, "padding": "dynamic", "attention": "sdpa"}]
    if task != "fortunes":
        fixed = []
        parts["validation"] = []  # CPU budget: the simulator's error is measured on fortunes (README)
    if task == "fortunes":
        parts["validation"] = [("validation", c, 0, v) for c in validation_combos(task, levels(task)) + fixed]
    if part == "all":
        return parts["build"] + parts["noise"] + parts["validation"]
    return [p for name in part.split(",") for p in parts[name]]
