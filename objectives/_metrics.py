"""Scores that a one-class predictor cannot game: macro / positive-class F1, checked against the majority class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


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


def score(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int, majority_label: int) -> Scores:
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(range(num_labels))
    if num_labels == 2:
        # The positive class is the training split's minority class: label ids follow sorted class names, so
        # id 1 can be the majority ("clean" after "buggy"), and its F1 would reward the one-class trap.
        kind, kwargs = "positive-class", {"average": "binary", "pos_label": 1 - majority_label}
    else:
        kind, kwargs = "macro", {"average": "macro", "labels": labels}
    f1 = float(f1_score(y_true, y_pred, zero_division=0, **kwargs))
    majority = [majority_label] * len(y_true)
    majority_f1 = float(f1_score(y_true, majority, zero_division=0, **kwargs))
    counts = dict(sorted(Counter(int(p) for p in y_pred).items()))
    reason = ""
    if len(counts) <= 1:
        reason = f"predicts one class ({next(iter(counts), 'none')}) for every input"
    elif f1 <= majority_f1:
        reason = f"{kind} F1 {f1:.3f} does not beat the majority-class F1 {majority_f1:.3f}"
    return Scores(
        f1=f1,
        f1_kind=kind,
        weighted_f1=float(f1_score(y_true, y_pred, average="weighted", labels=labels, zero_division=0)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        majority_f1=majority_f1,
        degenerate=bool(reason),
        degenerate_reason=reason,
        predicted_counts=counts,
    )
