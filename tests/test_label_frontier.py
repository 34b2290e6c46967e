"""bench.label_frontier's scoring and its per-class offsets (the decision rule between two label sets)."""

import numpy as np

from bench.label_frontier import Scorer, fit_offsets, macro_f1
from train.metrics import classification_report


def test_macro_f1_is_the_reports_macro_f1():
    rng = np.random.default_rng(1)
    truth, pred = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    assert abs(macro_f1(truth, pred) - classification_report(truth, pred)["macro_f1"]) < 1e-12


def test_scorer_counts_the_fer_plus_majority_only_where_the_votes_give_one():
    majority = np.array([0, -1, 2, 3])
    labels = np.array([0, 1, 2, 0])
    logits = np.eye(7)[[0, 1, 2, 4]]
    accuracy, f1 = Scorer(majority, labels, np.arange(4))(logits)
    assert accuracy == 2 / 3  # the unvoted image is not counted; the last is wrong
    assert f1 == macro_f1(labels, np.array([0, 1, 2, 4]))


def test_offsets_undo_a_class_bias_and_hold_the_other_label_sets_floor():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(2000, 7))
    majority = clean.argmax(1)
    biased = clean + np.array([0.8, 0, 0, 0, -0.8, 0, 0])  # the model over-calls class 0, under-calls 4
    score = Scorer(majority, majority.copy(), np.arange(2000))
    before, _ = score(biased)
    offsets = fit_offsets(biased, score, floor=0.9)
    after, f1 = score(biased + offsets)
    assert before < 0.85 and after > 0.95 and f1 >= 0.9
    assert offsets[0] - offsets[4] < -1.2
