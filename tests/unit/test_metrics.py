"""Scores checked against arithmetic done by hand, not against scikit-learn again."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bertviz_lib.metrics import classification_metrics, expected_calibration_error, prediction_ids


def _walk(value):
    """Yield every leaf of a nested dict/list result."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def _assert_plain_json(result: dict) -> None:
    for leaf in _walk(result):
        assert leaf is None or type(leaf) in (str, int, float, bool), type(leaf)
        if isinstance(leaf, float):
            assert math.isfinite(leaf)
    json.dumps(result, allow_nan=False)


# ---------------------------------------------------------------- binary

BINARY_Y = np.array([0, 0, 0, 1, 1, 1])
BINARY_P1 = np.array([0.1, 0.3, 0.7, 0.45, 0.85, 0.95])
BINARY_PROBS = np.column_stack([1 - BINARY_P1, BINARY_P1])


@pytest.fixture
def binary_result() -> dict:
    return classification_metrics(BINARY_Y, BINARY_PROBS, ["neg", "pos"], "binary", ece_bins=5)


def test_binary_counts_and_positive_class_scores(binary_result):
    # predictions (p1 > 0.5): [0, 0, 1, 0, 1, 1]
    # TN = rows 0,1 -> 2; FP = row 2 -> 1; FN = row 3 -> 1; TP = rows 4,5 -> 2
    assert binary_result["confusion_matrix"] == [[2, 1], [1, 2]]
    assert binary_result["accuracy"] == pytest.approx(4 / 6)
    assert binary_result["positive_label"] == "pos"
    # precision = 2 / (2 + 1), recall = 2 / (2 + 1), F1 = 2PR / (P + R) = 2/3
    assert binary_result["precision"] == pytest.approx(2 / 3)
    assert binary_result["recall"] == pytest.approx(2 / 3)
    assert binary_result["f1"] == pytest.approx(2 / 3)
    assert [c["support"] for c in binary_result["per_class"]] == [3, 3]
    _assert_plain_json(binary_result)


def test_binary_ranking_scores(binary_result):
    # positives {0.45, 0.85, 0.95} vs negatives {0.1, 0.3, 0.7}: 9 pairs
    # 0.45 beats 0.1 and 0.3 -> 2; 0.85 beats all 3; 0.95 beats all 3 -> 8 concordant
    assert binary_result["roc_auc"] == pytest.approx(8 / 9)
    # ranked by p1: 0.95(+) 0.85(+) 0.7(-) 0.45(+) ...; precision at each positive: 1, 1, 3/4
    # average precision = (1 + 1 + 0.75) / 3
    assert binary_result["pr_auc"] == pytest.approx(2.75 / 3)
    assert binary_result["roc_auc_per_class"][1] == pytest.approx(8 / 9)


def test_binary_expected_calibration_error(binary_result):
    # top-class confidence / correct: 0.9 Y, 0.7 Y, 0.7 N, 0.55 N, 0.85 Y, 0.95 Y
    # bin [0.4, 0.6): {0.55 N}           -> count 1, acc 0,   conf 0.55, gap 0.55
    # bin [0.6, 0.8): {0.7 Y, 0.7 N}     -> count 2, acc 0.5, conf 0.7,  gap 0.2
    # bin [0.8, 1.0]: {0.9, 0.85, 0.95}  -> count 3, acc 1,   conf 0.9,  gap 0.1
    # ECE = (1 * 0.55 + 2 * 0.2 + 3 * 0.1) / 6 = 1.25 / 6
    assert binary_result["ece"] == pytest.approx(1.25 / 6)
    bins = binary_result["calibration"]["bins"]
    assert [b["count"] for b in bins] == [0, 0, 1, 2, 3]
    assert bins[0]["mean_confidence"] is None and bins[0]["accuracy"] is None
    assert bins[3]["accuracy"] == pytest.approx(0.5)
    assert bins[4]["mean_confidence"] == pytest.approx(0.9)
    assert (bins[4]["lower"], bins[4]["upper"]) == pytest.approx((0.8, 1.0))


# ---------------------------------------------------------------- three classes

THREE_Y = np.array([0, 0, 1, 1, 2, 2, 2])
THREE_PROBS = np.array(
    [
        [0.7, 0.2, 0.1],  # true a, predicted a
        [0.3, 0.6, 0.1],  # true a, predicted b
        [0.2, 0.5, 0.3],  # true b, predicted b
        [0.1, 0.8, 0.1],  # true b, predicted b
        [0.2, 0.2, 0.6],  # true c, predicted c
        [0.5, 0.1, 0.4],  # true c, predicted a
        [0.1, 0.1, 0.8],  # true c, predicted c
    ]
)


def test_three_class_scores():
    result = classification_metrics(THREE_Y, THREE_PROBS, ["a", "b", "c"], "single_label")
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert result["accuracy"] == pytest.approx(5 / 7)
    # a: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
    # b: TP 2, FP 1, FN 0 -> P 2/3, R 1,   F1 2 * (2/3) / (5/3) = 0.8
    # c: TP 2, FP 0, FN 1 -> P 1,   R 2/3, F1 0.8
    f1 = [c["f1"] for c in result["per_class"]]
    assert f1 == pytest.approx([0.5, 0.8, 0.8])
    assert [c["support"] for c in result["per_class"]] == [2, 2, 3]
    assert [c["label"] for c in result["per_class"]] == ["a", "b", "c"]
    # macro F1 = (0.5 + 0.8 + 0.8) / 3 = 0.7
    assert result["macro_f1"] == pytest.approx(0.7)
    # weighted F1 = (2 * 0.5 + 2 * 0.8 + 3 * 0.8) / 7 = 5 / 7
    assert result["weighted_f1"] == pytest.approx(5 / 7)
    # macro precision = (1/2 + 2/3 + 1) / 3; macro recall = (1/2 + 1 + 2/3) / 3
    assert result["macro_precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert result["macro_recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    # log loss = -mean(ln p_true); product of p_true = 0.7*0.3*0.5*0.8*0.6*0.4*0.8 = 0.016128
    assert result["log_loss"] == pytest.approx(-math.log(0.016128) / 7)
    # ranking for class b (one-vs-rest): positives {0.5, 0.8} vs negatives
    # {0.2, 0.6, 0.2, 0.1, 0.1}: 0.5 beats 4, 0.8 beats 5 -> 9 of 10 pairs
    assert result["roc_auc_per_class"][1] == pytest.approx(9 / 10)
    assert "micro_f1" not in result
    _assert_plain_json(result)


# ---------------------------------------------------------------- multi-label

MULTI_Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
MULTI_PROBS = np.array(
    [
        [0.9, 0.2, 0.4],  # predicted {x}      true {x, z}
        [0.1, 0.7, 0.6],  # predicted {y, z}   true {y}
        [0.8, 0.3, 0.2],  # predicted {x}      true {x, y}
        [0.3, 0.1, 0.7],  # predicted {z}      true {z}
    ]
)


def test_multi_label_scores():
    result = classification_metrics(MULTI_Y, MULTI_PROBS, ["x", "y", "z"], "multi_label")
    # only row 3 matches exactly -> 1/4
    assert result["accuracy"] == pytest.approx(0.25)
    # wrong cells: (0, z), (1, z), (2, y) -> 3 of 12
    assert result["hamming_loss"] == pytest.approx(0.25)
    # x: TN 2 FP 0 FN 0 TP 2; y: TN 2 FP 0 FN 1 TP 1; z: TN 1 FP 1 FN 1 TP 1
    assert result["confusion_matrices"] == [
        [[2, 0], [0, 2]],
        [[2, 0], [1, 1]],
        [[1, 1], [1, 1]],
    ]
    # per-label F1: x 1, y 2*1*0.5/1.5 = 2/3, z 0.5 -> macro (1 + 2/3 + 1/2) / 3 = 13/18
    assert result["macro_f1"] == pytest.approx(13 / 18)
    # micro: TP 4, FP 1, FN 2 -> P 4/5, R 4/6, F1 2*4 / (2*4 + 1 + 2) = 8/11
    assert result["micro_precision"] == pytest.approx(0.8)
    assert result["micro_recall"] == pytest.approx(4 / 6)
    assert result["micro_f1"] == pytest.approx(8 / 11)
    # per row F1: 2/3, 2/3, 2/3, 1 -> mean 3/4
    assert result["samples_f1"] == pytest.approx(0.75)
    assert result["threshold"] == 0.5
    assert [c["support"] for c in result["per_class"]] == [2, 2, 2]
    assert "confusion_matrix" not in result
    _assert_plain_json(result)


def test_multi_label_log_loss_and_calibration_use_every_cell():
    y = np.array([[1, 0]])
    probs = np.array([[0.8, 0.4]])
    result = classification_metrics(y, probs, ["x", "y"], "multi_label", ece_bins=2)
    # BCE cells: -ln(0.8) and -ln(1 - 0.4) -> mean
    assert result["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    # cell 0.4, outcome 0 -> bin [0, 0.5), gap 0.4
    # cell 0.8, outcome 1 -> bin [0.5, 1], gap 0.2
    # ECE = (1 * 0.4 + 1 * 0.2) / 2 = 0.3
    assert result["ece"] == pytest.approx(0.3)
    assert [b["count"] for b in result["calibration"]["bins"]] == [1, 1]


# ---------------------------------------------------------------- edge cases


def test_absent_class_gives_none_and_no_nan():
    y = np.array([0, 1, 0, 1])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.4, 0.5, 0.1]])
    result = classification_metrics(y, probs, ["a", "b", "c"], "single_label")
    assert result["roc_auc_per_class"][2] is None
    assert result["pr_auc_per_class"][2] is None
    # classes a and b are separated perfectly by their own column -> AUC 1 each, macro 1
    assert result["roc_auc_per_class"][:2] == pytest.approx([1.0, 1.0])
    assert result["roc_auc"] == pytest.approx(1.0)
    assert result["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 0]]
    assert result["per_class"][2] == {
        "label": "c",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    _assert_plain_json(result)


def test_multi_label_always_positive_label_has_pr_but_no_roc():
    y = np.array([[1, 0], [1, 1], [1, 0]])
    probs = np.array([[0.9, 0.2], [0.6, 0.8], [0.7, 0.4]])
    result = classification_metrics(y, probs, ["always", "sometimes"], "multi_label")
    assert result["roc_auc_per_class"] == [None, 1.0]
    # label "always" has only positives: every threshold has precision 1 -> AP 1
    assert result["pr_auc_per_class"][0] == pytest.approx(1.0)
    assert result["roc_auc"] == pytest.approx(1.0)
    _assert_plain_json(result)


@pytest.mark.parametrize("problem_type", ["single_label", "binary"])
def test_single_row_does_not_crash(problem_type):
    result = classification_metrics(
        np.array([1]), np.array([[0.25, 0.75]]), ["n", "p"], problem_type
    )
    assert result["n"] == 1
    assert result["accuracy"] == 1.0
    assert result["roc_auc"] is None
    assert result["confusion_matrix"] == [[0, 0], [0, 1]]
    # one row, confidence 0.75, correct -> gap 0.25
    assert result["ece"] == pytest.approx(0.25)
    _assert_plain_json(result)


def test_single_row_multi_label_does_not_crash():
    result = classification_metrics(
        np.array([[0, 1]]), np.array([[0.2, 0.9]]), ["x", "y"], "multi_label"
    )
    assert result["accuracy"] == 1.0
    assert result["roc_auc_per_class"] == [None, None]
    assert result["pr_auc_per_class"][0] is None
    _assert_plain_json(result)


@pytest.mark.parametrize(
    ("y", "probs", "names", "problem_type"),
    [
        (np.array([0, 1, 1]), np.array([[0.5, 0.5], [0.1, 0.9]]), ["a", "b"], "binary"),
        (np.array([0, 1]), np.array([[0.5, 0.5], [0.1, 0.9]]), ["a", "b", "c"], "binary"),
        (np.array([0, 1]), np.full((2, 3), 1 / 3), ["a", "b", "c"], "binary"),
        (np.array([[0, 1]]), np.array([[0.2, 0.9, 0.1]]), ["a", "b", "c"], "multi_label"),
        (np.array([0, 3]), np.full((2, 3), 1 / 3), ["a", "b", "c"], "single_label"),
        (np.array([0, 1]), np.array([[2.0, 1.0], [0.0, 3.0]]), ["a", "b"], "single_label"),
        (np.array([0, 1]), np.array([[0.5, 0.5], [0.1, 0.9]]), ["a", "b"], "regression"),
    ],
)
def test_inconsistent_inputs_raise(y, probs, names, problem_type):
    with pytest.raises(ValueError):
        classification_metrics(y, probs, names, problem_type)


def test_mismatched_calibration_lengths_raise():
    with pytest.raises(ValueError, match="same length"):
        expected_calibration_error(np.array([0.5, 0.6]), np.array([1]))


def test_confidence_of_one_lands_in_last_bin():
    ece, bins = expected_calibration_error(np.array([1.0, 0.0, 0.3]), np.array([1, 0, 0]), bins=10)
    assert bins[9]["count"] == 1 and bins[9]["mean_confidence"] == 1.0
    assert bins[0]["count"] == 1
    # 0.3 sits on an edge and belongs to [0.3, 0.4)
    assert bins[3]["count"] == 1
    # gaps: |1 - 1| = 0, |0 - 0| = 0, |0 - 0.3| = 0.3 -> ECE = 0.3 / 3
    assert ece == pytest.approx(0.1)
    assert sum(b["count"] for b in bins) == 3


def test_prediction_ids():
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.5]])
    assert prediction_ids(probs, "single_label").tolist() == [1, 0]
    assert prediction_ids(probs, "multi_label").tolist() == [[0, 1, 0], [1, 0, 1]]
    assert prediction_ids(probs, "multi_label", threshold=0.55).tolist() == [[0, 0, 0], [1, 0, 0]]
