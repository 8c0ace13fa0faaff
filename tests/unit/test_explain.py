"""Attributions on trained tiny runs: completeness, auto steps, words, targets, truncation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from bertviz_lib import explain
from bertviz_lib.explain.explanation import endpoints
from bertviz_lib.explain.path_integral import (
    NODES_PER_PIECE,
    NODES_SHARP_SCANNED,
    NODES_STEEP,
    SCAN_INTERVALS,
    Stretch,
    straight_path,
    stretches_from_scan,
)
from bertviz_lib.model import heads
from bertviz_lib.model.predict import Predictor
from tests.helpers import NEGATIVE


@pytest.fixture(scope="module")
def binary(trained_runs) -> Predictor:
    return Predictor.from_run(trained_runs("binary"))


@pytest.fixture(scope="module")
def multi_label(trained_runs) -> Predictor:
    return Predictor.from_run(trained_runs("multi_label"))


def probabilities(predictor: Predictor, text: str) -> torch.Tensor:
    encoded = predictor.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = predictor.model(**encoded).logits
    return heads.probabilities(predictor.problem_type, logits)[0]


@pytest.mark.parametrize("baseline", explain.BASELINES)
def test_attributions_sum_to_the_probability_change_within_delta(predictor, baseline):
    result = explain.explain(predictor, NEGATIVE, baseline=baseline, n_steps=32)
    change = result.target_probability - result.baseline_probability
    assert abs(change) > 0.5  # the baseline really moves the prediction: the check is not vacuous
    assert abs(sum(result.token_attributions) - change) <= abs(result.delta) + 1e-4
    assert result.n_steps == 32 and result.tries == [(32, result.delta)]
    assert result.converged == (abs(result.delta) < 0.05)
    json.loads(json.dumps(dataclasses.asdict(result)))


def test_numbers_equal_a_direct_layer_integrated_gradients_call(predictor):
    from captum.attr import LayerIntegratedGradients

    model, tokenizer = predictor.model, predictor.tokenizer
    result = explain.explain(predictor, NEGATIVE, baseline="pad", n_steps=16)
    encoded = tokenizer(NEGATIVE, return_tensors="pt")
    ids = encoded["input_ids"]
    base = torch.full_like(ids, tokenizer.pad_token_id)
    base[0, 0], base[0, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id

    def forward(input_ids, mask):
        logits = model(input_ids=input_ids, attention_mask=mask).logits
        return torch.softmax(logits, dim=-1)[:, result.target]

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    direct, delta = lig.attribute(
        ids,
        baselines=base,
        additional_forward_args=(encoded["attention_mask"],),
        n_steps=16,
        return_convergence_delta=True,
    )
    assert result.token_attributions == pytest.approx(direct[0].sum(-1).tolist(), abs=1e-4)
    assert result.delta == pytest.approx(float(delta[0]), abs=1e-4)


def scanned(predictor: Predictor, intervals: int):
    return endpoints(predictor.model, predictor.tokenizer, NEGATIVE,
                     problem_type=predictor.problem_type, label_names=predictor.label_names,
                     target=None, max_length=128, baseline="pad",
                     scan_intervals=intervals)  # fmt: skip


def test_auto_mode_places_its_first_nodes_from_the_scan_and_refines_until_under_tolerance(
    predictor,
):
    ends = scanned(predictor, SCAN_INTERVALS)
    first = sum(s.nodes for s in stretches_from_scan(ends.scan, 1e-3 / 4))
    auto = explain.explain(predictor, NEGATIVE, tolerance=1e-3)
    assert auto.tries[0][0] == first
    assert len(auto.tries) > 1  # the first round alone was not enough here: refining is tested
    assert auto.converged is True and abs(auto.delta) < 1e-3
    spent = [n for n, _ in auto.tries]
    assert spent == sorted(set(spent)) and auto.n_steps == spent[-1] <= 128
    change = auto.target_probability - auto.baseline_probability
    assert sum(auto.token_attributions) == pytest.approx(change + auto.delta, abs=1e-5)
    # The refined attributions approach those of a far finer fixed grid.
    reference = explain.explain(predictor, NEGATIVE, n_steps=512)
    assert auto.token_attributions == pytest.approx(reference.token_attributions, abs=2e-3)


def test_the_scan_reads_f_along_the_same_path_the_gradients_follow(predictor):
    ends = scanned(predictor, 4)
    assert [a for a, _ in ends.scan] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert ends.scan[0][1] == ends.baseline_probability and ends.scan[-1][1] == ends.probability
    _, f_nodes = straight_path(ends.at, ends.start, ends.inputs, 64)([a for a, _ in ends.scan])
    assert f_nodes.tolist() == pytest.approx([f for _, f in ends.scan], abs=1e-5)


def test_a_step_in_the_scan_gets_the_nodes_and_flat_stretches_are_merged():
    alphas = [i / 8 for i in range(9)]
    step = [0.1] * 4 + [0.9] * 5  # f jumps between 3/8 and 4/8
    stretches = stretches_from_scan(list(zip(alphas, step, strict=True)), flat=0.0025)
    assert [(s.low, s.high, s.nodes) for s in stretches] == [
        (0, 3 / 8, 1), (3 / 8, 4 / 8, NODES_SHARP_SCANNED), (4 / 8, 1, 1)
    ]  # fmt: skip
    soft = [0.4] * 4 + [0.6] * 5  # a climb of 0.2 in f but 0.8 in logit(f): steep, not sharp
    stretches = stretches_from_scan(list(zip(alphas, soft, strict=True)), flat=0.0025)
    assert [s.nodes for s in stretches] == [1, NODES_STEEP, 1]
    ramp = stretches_from_scan([(a, 0.05 * i) for i, a in enumerate(alphas)], flat=0.0025)
    assert [s.nodes for s in ramp] == [NODES_PER_PIECE] * 8
    assert [s.low for s in ramp] == alphas[:-1] and [s.high for s in ramp] == alphas[1:]


def logistic(alpha: np.ndarray, slope: float = 60.0, middle: float = 0.43) -> np.ndarray:
    return 1 / (1 + np.exp(-slope * (alpha - middle)))


@pytest.mark.parametrize("sign", [1, -1])  # a climb, and the same curve falling
def test_across_a_logistic_climb_nodes_follow_f_and_one_node_integrates_it(sign):
    low, high = 3 / 8, 4 / 8
    f = lambda a: logistic(a) if sign > 0 else 1 - logistic(a)  # noqa: E731
    climb = Stretch(low, high, float(f(low)), float(f(high)), nodes=1)
    slope = lambda a: sign * 60.0 * logistic(a) * (1 - logistic(a))  # noqa: E731  df/dalpha
    alphas, weights = climb.nodes_and_weights()
    assert low < alphas[0] < high and weights[0] > 0
    assert float(weights @ slope(alphas)) == pytest.approx(climb.f_high - climb.f_low, rel=1e-9)
    evenly = dataclasses.replace(climb, nodes=4, follow_f=False)
    alphas, weights = evenly.nodes_and_weights()  # Gauss-Legendre in alpha misses, 4 nodes or not
    assert abs(float(weights @ slope(alphas)) - (climb.f_high - climb.f_low)) > 1e-2


def test_where_f_hardly_moves_the_nodes_are_plain_gauss_legendre():
    flat = Stretch(0.5, 1.0, 0.96, 0.97, nodes=3)  # logit(f) changes by 0.3
    alphas, weights = flat.nodes_and_weights()
    x, w = np.polynomial.legendre.leggauss(3)
    assert alphas == pytest.approx(0.75 + 0.25 * x) and weights == pytest.approx(0.25 * w)


def test_auto_mode_stops_at_the_step_budget_and_says_it_did_not_converge(predictor):
    capped = explain.explain(predictor, NEGATIVE, tolerance=1e-12, max_steps=80)
    assert capped.converged is False and capped.n_steps <= 80
    assert len(capped.tries) > 1  # it refined at least once before the budget ran out
    assert abs(capped.tries[-1][1]) < abs(capped.tries[0][1])  # what it spent still helped


def test_wordpiece_pieces_are_joined_into_words(predictor):
    text = "the film was unbelievably awful"
    pieces = predictor.tokenizer.tokenize(text)
    assert any(p.startswith("##") for p in pieces)  # the check below needs a split word
    result = explain.explain(predictor, text, n_steps=8)
    assert result.tokens == ["[CLS]", *pieces, "[SEP]"]
    assert result.words == ["the", "film", "was", "unbelievably", "awful"]
    start = result.tokens.index(pieces[3])  # the first piece of "unbelievably"
    end = start + next(i for i, p in enumerate(pieces[4:]) if not p.startswith("##")) + 1
    assert result.word_attributions[3] == pytest.approx(sum(result.token_attributions[start:end]))
    assert sum(result.word_attributions) == pytest.approx(sum(result.token_attributions[1:-1]))


def test_an_explicit_target_is_explained_instead_of_the_prediction(predictor):
    default = explain.explain(predictor, NEGATIVE, n_steps=8)
    assert default.label == "negative"
    other = explain.explain(predictor, NEGATIVE, target="positive", n_steps=8)
    assert (other.target, other.label) == (1, "positive")
    assert other.target_probability == pytest.approx(1 - default.target_probability, abs=1e-5)
    with pytest.raises(ValueError):
        explain.explain(predictor, NEGATIVE, target="neutral")


def test_binary_negative_target_is_one_minus_the_sigmoid(binary):
    assert binary.problem_type == "binary"
    with torch.no_grad():
        logits = binary.model(**binary.tokenizer(NEGATIVE, return_tensors="pt")).logits
    assert logits.shape == (1, 1)
    positive = float(torch.sigmoid(logits[0, 0]))
    default = explain.explain(binary, NEGATIVE, n_steps=16)
    assert (default.target, default.label) == (0, "negative")
    assert default.target_probability == pytest.approx(1 - positive, abs=1e-5)
    flipped = explain.explain(binary, NEGATIVE, target=1, n_steps=16)
    assert flipped.target_probability == pytest.approx(positive, abs=1e-5)
    change = flipped.target_probability - flipped.baseline_probability
    assert abs(sum(flipped.token_attributions) - change) <= abs(flipped.delta) + 1e-4


def test_multi_label_explains_the_most_probable_label(multi_label):
    text = "the hotel was lovely"
    expected = probabilities(multi_label, text)
    result = explain.explain(multi_label, text, n_steps=16)
    assert result.target == int(torch.argmax(expected)) and result.label == "travel"
    assert result.target_probability == pytest.approx(float(expected.max()), abs=1e-5)
    other = explain.explain(multi_label, text, target="media", baseline="mask", n_steps=16)
    assert other.target_probability == pytest.approx(float(expected[0]), abs=1e-5)
    change = other.target_probability - other.baseline_probability
    assert abs(sum(other.token_attributions) - change) <= abs(other.delta) + 1e-4


def test_a_long_text_is_explained_on_its_truncated_window(predictor):
    text = " ".join(["the film was awful"] * 20)
    result = explain.explain(predictor, text, n_steps=8, max_length=16)
    assert result.truncated is True and len(result.tokens) == 16 and result.total_tokens == 82
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    short = explain.explain(predictor, NEGATIVE, n_steps=8)
    assert short.truncated is False and short.total_tokens == len(short.tokens)


def test_markup_in_the_text_comes_back_as_plain_tokens(predictor):
    result = explain.explain(predictor, "<script>alert(1)</script> awful", n_steps=8)
    assert result.tokens[1:4] == ["<", "script", ">"]
    assert "<" in result.words and "script" in result.words


def test_gradient_x_input_has_the_explanation_shape(predictor):
    result = explain.explain(predictor, NEGATIVE, method="gradient_x_input")
    assert result.method == "gradient_x_input" and result.label == "negative"
    assert len(result.token_attributions) == len(result.tokens) == 6
    assert result.delta is None and result.converged is None and result.n_steps is None
    assert any(abs(x) > 0 for x in result.token_attributions)
    json.dumps(dataclasses.asdict(result))


@pytest.mark.parametrize("baseline", ["pad", "mask"])
def test_occlusion_is_the_drop_when_one_token_is_replaced(predictor, baseline):
    result = explain.explain(predictor, NEGATIVE, method="occlusion", baseline=baseline)
    assert result.method == "occlusion" and result.baseline == baseline
    assert result.token_attributions[0] == 0.0 and result.token_attributions[-1] == 0.0
    filler = "[PAD]" if baseline == "pad" else "[MASK]"
    occluded = probabilities(predictor, f"the hotel was {filler}")[result.target]
    expected = result.target_probability - float(occluded)
    assert result.token_attributions[4] == pytest.approx(expected, abs=1e-5)
    assert result.words[-1] == "awful" and result.word_attributions[-1] > 0.5


def test_unknown_options_are_refused(predictor):
    with pytest.raises(ValueError):
        explain.explain(predictor, NEGATIVE, baseline="unk")
    with pytest.raises(ValueError):
        explain.explain(predictor, NEGATIVE, method="saliency_map")
