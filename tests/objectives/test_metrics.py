"""Scores a one-class predictor cannot game: the original study's best model predicted "not vulnerable" for
everything, and weighted F1 on 3% positives called it good."""

from __future__ import annotations

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
    assert scores.degenerate_reason == "macro F1 0.000 does not beat the majority-class F1 0.222"


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
