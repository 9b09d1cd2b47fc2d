"""Scores a one-class predictor cannot game: the original study's best model predicted "not vulnerable" for
everything, and weighted F1 on 3% positives called it good."""

from __future__ import annotations

import numpy as np
import pytest

from greenknobs.objectives import score


def test_the_original_trap_weighted_f1_high_positive_f1_zero():
    y_true = [0] * 97 + [1] * 3
    scores = score(y_true, [0] * 100, num_labels=2, majority_label=0)
    assert scores.weighted_f1 > 0.95 and scores.accuracy == 0.97  # what the study looked at
    assert scores.f1_kind == "positive-class" and scores.f1 == 0.0  # what greenknobs optimizes
    assert scores.degenerate
    assert scores.degenerate_reason == "predicts one class (0) for every input"
    assert scores.predicted_counts == {0: 100}


def test_the_positive_class_is_the_minority_even_when_its_id_is_0():
    """Label ids follow sorted class names ("buggy" = 0, "clean" = 1): F1 of id 1 would score the 97% class."""
    y_true = [1] * 97 + [0] * 3
    y_pred = [1] * 96 + [0] + [0, 1, 1]  # one false alarm, one of three bugs found
    scores = score(y_true, y_pred, num_labels=2, majority_label=1)
    assert scores.f1 == pytest.approx(2 * 1 / (2 * 1 + 1 + 2))  # tp 1, fp 1, fn 2
    assert not scores.degenerate


@pytest.mark.parametrize("num_labels,prediction", [(2, 1), (5, 3)])
def test_any_one_class_predictor_is_degenerate(num_labels, prediction):
    y_true = [i % num_labels for i in range(50)]
    scores = score(y_true, [prediction] * 50, num_labels=num_labels, majority_label=0)
    assert scores.degenerate and f"predicts one class ({prediction})" in scores.degenerate_reason


def test_two_classes_predicted_but_no_better_than_the_majority_is_degenerate():
    # Macro-F1 over 3 classes; always predicting class 0 (half the data) scores 2/9.
    y_true = [0] * 6 + [1] * 3 + [2] * 3
    y_pred = [1] * 6 + [0] * 3 + [0] * 3  # both classes wrong: F1 0 on every class
    scores = score(y_true, y_pred, num_labels=3, majority_label=0)
    assert scores.f1_kind == "macro" and scores.majority_f1 == pytest.approx(2 / 9)
    assert scores.f1 == 0.0 and scores.degenerate
    assert scores.degenerate_reason.startswith("macro F1 0.000 does not beat label-blind predictors")
    assert scores.constant_f1 == pytest.approx(2 / 9)


def test_a_real_classifier_is_not_degenerate_and_macro_f1_weights_classes_equally():
    y_true = [0] * 8 + [1] * 2 + [2] * 2
    y_pred = [0] * 8 + [1, 2] + [2, 2]
    scores = score(y_true, y_pred, num_labels=3, majority_label=0)
    # class 0: 1.0; class 1: p 1, r .5 -> 2/3; class 2: p 2/3, r 1 -> .8
    assert scores.f1 == pytest.approx((1 + 2 / 3 + 0.8) / 3)
    assert scores.accuracy == pytest.approx(11 / 12)
    assert not scores.degenerate and scores.degenerate_reason == ""
    assert scores.predicted_counts == {0: 8, 1: 1, 2: 3}


def test_a_class_never_predicted_still_counts_in_macro_f1():
    y_true = [0, 0, 1, 1, 2, 2]
    scores = score(y_true, [0, 0, 1, 1, 1, 1], num_labels=3, majority_label=0)
    assert scores.f1 == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_a_near_constant_predictor_on_rare_positives_is_degenerate():
    """6% positives, "positive" for 99 of 100: F1 0.114 just beats the constant's 0.113, which the old
    majority-class rule (positive-class F1 of "always negative" = 0) let through."""
    y_true = [1] * 6 + [0] * 94
    y_pred = [1] * 99 + [0]  # the one negative prediction is a true negative
    scores = score(y_true, y_pred, num_labels=2, majority_label=0, prior=[94, 6])
    assert scores.f1 == pytest.approx(2 * 6 / (2 * 6 + 93))  # 0.114
    assert scores.constant_f1 == pytest.approx(2 * 6 / (2 * 6 + 94))  # 0.113: always positive
    assert scores.f1 > scores.majority_f1 == 0.0  # the old rule's threshold
    assert scores.degenerate and scores.f1 <= scores.chance_f1
    assert "label-blind" in scores.degenerate_reason


def test_scattering_labels_at_the_prior_rates_is_degenerate_but_learning_is_not():
    rng = np.random.default_rng(0)
    y_true = list(np.repeat(np.arange(5), 60))
    blind = list(rng.choice(5, size=300))  # knows nothing: predicts at the prior's rates
    assert score(y_true, blind, num_labels=5, majority_label=0).degenerate
    learned = [y if i % 3 else (y + 1) % 5 for i, y in enumerate(y_true)]  # two thirds right
    s = score(y_true, learned, num_labels=5, majority_label=0)
    assert not s.degenerate and s.f1 > s.chance_f1 > s.prior_f1_mean


@pytest.mark.parametrize("right_on_the_two,degenerate", [(1.0, True), (0.0, True)])
def test_five_classes_only_two_ever_predicted(right_on_the_two, degenerate):
    """The documented outcome of the rule for a partial collapse: 5 balanced classes, only classes 0 and 1 ever
    predicted. Even when those two are always right, precision suffers from the other three classes poured into
    them, so macro-F1 is about 0.23, at the chance threshold (~0.23 on 500 examples), and the rule flags it. A
    partial collapse onto more classes, or onto a large class, can pass; the F1 floor then judges it."""
    y_true = [i % 5 for i in range(500)]
    y_pred = [(y if right_on_the_two else 1 - y) if y < 2 else i % 2 for i, y in enumerate(y_true)]
    s = score(y_true, y_pred, num_labels=5, majority_label=0)
    assert set(s.predicted_counts) == {0, 1}
    assert s.degenerate is degenerate


def test_the_chance_threshold_is_deterministic():
    y_true = [i % 3 for i in range(90)]
    y_pred = [0] * 45 + [1] * 45
    assert score(y_true, y_pred, 3, 0).chance_f1 == score(y_true, y_pred, 3, 0).chance_f1
