"""Scores a label-blind predictor cannot game: macro / positive-class F1, checked against chance.

A model is **degenerate** when its F1 does not beat, by more than the noise, every label-blind predictor: each
constant predictor ("always class c", for every c) and a predictor that draws labels at random from the training
split's class shares. The noise is the spread of that random predictor's F1 over many seeded draws on the same
labels: what a model that learned nothing scores by luck on this many examples. The threshold is

    chance_f1 = max(best constant F1, mean random-prior F1) + CHANCE_Z × std of the random-prior F1

so a collapse to one class is caught ("positive for 99 of 100" on 6% positives scores F1 0.114, just above the
constant's 0.113, and is degenerate), and so is a model that scatters labels at the prior's rates. A partial
collapse that still predicts a few classes well is not: see tests/objectives/test_metrics.py for the documented
outcome with 5 classes and 2 predicted; the F1 floor is what judges it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CHANCE_Z = 2.0
CHANCE_DRAWS = 1000
_CHANCE_SEED = 20251  # fixed: the threshold must be the same number every time the same labels are scored


@dataclass(frozen=True)
class Scores:
    f1: float  # the objective: positive-class (minority-class) F1 for binary tasks, macro-F1 otherwise
    f1_kind: str
    weighted_f1: float
    accuracy: float
    majority_f1: float  # the same F1 for always predicting the training split's majority class
    degenerate: bool
    degenerate_reason: str
    predicted_counts: dict[int, int]
    chance_f1: float = 0.0  # the threshold above: what a model must beat to count as having learned anything
    constant_f1: float = 0.0  # best F1 of a constant predictor
    prior_f1_mean: float = 0.0  # mean F1 of the random-prior predictor
    prior_f1_std: float = 0.0


def _f1_rows(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[int], pos_label: int | None) -> np.ndarray:
    """F1 of every row of `y_pred` (draws × examples) against `y_true`, as sklearn's f1_score with zero_division=0:
    binary F1 of `pos_label`, or macro over `labels` when pos_label is None."""
    def f1_of(c: int) -> np.ndarray:
        pred, true = y_pred == c, (y_true == c)[None, :]
        tp = (pred & true).sum(axis=1)
        denominator = 2 * tp + (pred & ~true).sum(axis=1) + (~pred & true).sum(axis=1)
        return np.divide(2 * tp, denominator, out=np.zeros(len(y_pred)), where=denominator > 0)

    if pos_label is not None:
        return f1_of(pos_label)
    return np.mean([f1_of(c) for c in labels], axis=0)


def chance_levels(y_true: Sequence[int], num_labels: int, prior: Sequence[float], pos_label: int | None,
                  draws: int = CHANCE_DRAWS) -> tuple[float, float, float]:
    """(best constant F1, mean and std of the random-prior F1) on these labels."""
    truth = np.asarray(y_true)
    labels = list(range(num_labels))
    constants = _f1_rows(truth, np.tile(np.asarray(labels)[:, None], (1, len(truth))), labels, pos_label)
    p = np.asarray(prior, dtype=float)
    rng = np.random.default_rng(_CHANCE_SEED)
    random = _f1_rows(truth, rng.choice(num_labels, size=(draws, len(truth)), p=p / p.sum()), labels, pos_label)
    return float(constants.max()), float(random.mean()), float(random.std(ddof=1))


def f1_kind(num_labels: int) -> str:
    """Which F1 a task is scored by: the positive class's for two labels (see `score`), macro otherwise."""
    return "positive-class" if num_labels == 2 else "macro"


def score(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int, majority_label: int,
          prior: Sequence[float] | None = None) -> Scores:
    """`prior`: the training split's class shares (default: those of `y_true`)."""
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(range(num_labels))
    if f1_kind(num_labels) == "positive-class":
        # The positive class is the training split's minority class: label ids follow sorted class names, so
        # id 1 can be the majority ("clean" after "buggy"), and its F1 would reward the one-class trap.
        kind, kwargs, pos = "positive-class", {"average": "binary", "pos_label": 1 - majority_label}, 1 - majority_label
    else:
        kind, kwargs, pos = "macro", {"average": "macro", "labels": labels}, None
    f1 = float(f1_score(y_true, y_pred, zero_division=0, **kwargs))
    majority = [majority_label] * len(y_true)
    majority_f1 = float(f1_score(y_true, majority, zero_division=0, **kwargs))
    if prior is None:
        shares = Counter(int(y) for y in y_true)
        prior = [shares.get(c, 0) for c in labels]
    constant, prior_mean, prior_std = chance_levels(y_true, num_labels, prior, pos)
    chance = max(constant, prior_mean) + CHANCE_Z * prior_std
    counts = dict(sorted(Counter(int(p) for p in y_pred).items()))
    reason = ""
    if len(counts) <= 1:
        reason = f"predicts one class ({next(iter(counts), 'none')}) for every input"
    elif f1 <= chance:
        reason = (f"{kind} F1 {f1:.3f} does not beat label-blind predictors by more than their noise: best constant "
                  f"{constant:.3f}, random at the training prior {prior_mean:.3f} ± {prior_std:.3f}; needs > {chance:.3f}")
    return Scores(
        f1=f1,
        f1_kind=kind,
        weighted_f1=float(f1_score(y_true, y_pred, average="weighted", labels=labels, zero_division=0)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        majority_f1=majority_f1,
        degenerate=bool(reason),
        degenerate_reason=reason,
        predicted_counts=counts,
        chance_f1=chance,
        constant_f1=constant,
        prior_f1_mean=prior_mean,
        prior_f1_std=prior_std,
    )
