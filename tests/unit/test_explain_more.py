"""LIME and KernelSHAP, attributions per layer, faithfulness curves, and tokens per class."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from bertviz_lib import explain
from bertviz_lib.explain import deletion_insertion
from tests.helpers import NEGATIVE

TEXT = "the hotel was awful and the staff rude"


def _options(predictor):
    return dict(problem_type=predictor.problem_type, max_length=predictor.max_length)


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_sampled_methods_are_seeded_and_leave_special_tokens_at_zero(predictor, method):
    first = explain.explain(predictor, TEXT, method, n_samples=120, seed=1)
    again = explain.explain(predictor, TEXT, method, n_samples=120, seed=1)
    other = explain.explain(predictor, TEXT, method, n_samples=120, seed=2)
    assert first.token_attributions == again.token_attributions
    assert first.token_attributions != other.token_attributions
    assert first.token_attributions[0] == 0.0 and first.token_attributions[-1] == 0.0
    assert first.n_samples == 120 and first.method == method
    words = dict(zip(first.words, first.word_attributions, strict=True))
    assert words["awful"] == max(words.values())  # the word the toy data taught as negative


def test_kernel_shap_reports_how_far_its_values_miss_the_probability_change(predictor):
    result = explain.explain(predictor, TEXT, "kernel_shap", n_samples=400)
    change = result.target_probability - result.baseline_probability
    assert abs(change) > 0.3
    assert result.delta == pytest.approx(sum(result.token_attributions) - change, abs=1e-5)
    assert abs(result.delta) < 0.1 * abs(change)


def test_each_layer_row_keeps_completeness(predictor):
    layers = explain.layer_attributions(
        predictor.model,
        predictor.tokenizer,
        TEXT,
        label_names=predictor.label_names,
        baseline="pad",
        tolerance=0.01,
        max_steps=256,
        **_options(predictor),
    )
    whole = explain.explain(predictor, TEXT, n_steps=8)
    change = whole.target_probability - whole.baseline_probability
    assert abs(change) > 0.5
    assert np.array(layers.values).shape == (2, len(whole.tokens))  # the tiny model: 2 layers
    assert layers.converged is True
    for row, delta in zip(layers.values, layers.deltas, strict=True):
        assert sum(row) == pytest.approx(change + delta, abs=1e-4)
        assert abs(delta) < 0.01
    assert layers.label == whole.label and layers.tokens == whole.tokens


def test_faithfulness_curves_start_and_end_where_they_must(predictor):
    ig = explain.explain(predictor, TEXT, n_steps=32)
    result = explain.faithfulness(
        predictor.model, predictor.tokenizer, TEXT, [ig], filler="pad", **_options(predictor)
    )
    curve = result.curves[0]
    n = result.tokens
    assert n == len(ig.tokens) - 2 and len(curve.deletion) == len(curve.insertion) == n + 1
    assert curve.deletion[0] == pytest.approx(ig.target_probability, abs=1e-5)
    assert curve.insertion[n] == pytest.approx(ig.target_probability, abs=1e-5)
    assert curve.deletion[n] == pytest.approx(curve.insertion[0], abs=1e-5)  # all replaced
    assert curve.insertion[0] == pytest.approx(ig.baseline_probability, abs=1e-4)
    expected = np.mean(ig.target_probability - np.array(curve.deletion[1:]))
    assert curve.comprehensiveness == pytest.approx(expected, abs=1e-6)
    assert [c.name for c in result.curves] == ["integrated_gradients", "random"]


def test_a_ranking_that_follows_the_model_beats_its_reverse_and_random(predictor):
    ig = explain.explain(predictor, TEXT, n_steps=32)
    reverse = dataclasses.replace(
        ig, method="reversed", token_attributions=[-x for x in ig.token_attributions]
    )
    result = explain.faithfulness(
        predictor.model, predictor.tokenizer, TEXT, [ig, reverse], **_options(predictor)
    )
    by_name = {c.name: c for c in result.curves}
    assert by_name["integrated_gradients"].comprehensiveness > by_name["reversed"].comprehensiveness
    assert by_name["integrated_gradients"].sufficiency < by_name["reversed"].sufficiency
    assert result.verdict("integrated_gradients") == "beats random on both"
    assert result.verdict("reversed") == "no better than random"
    assert result.most_faithful() == "integrated_gradients"
    assert [explain.filler_for(b) for b in explain.BASELINES] == ["pad", "mask", "pad"]


def test_faithfulness_refuses_explanations_of_another_text_or_target(predictor):
    ig = explain.explain(predictor, TEXT, n_steps=8)
    other_text = explain.explain(predictor, NEGATIVE, n_steps=8)
    other_target = explain.explain(predictor, TEXT, target="positive", n_steps=8)
    for bad in ([ig, other_text], [ig, other_target], []):
        with pytest.raises(ValueError):
            explain.faithfulness(
                predictor.model, predictor.tokenizer, TEXT, bad, **_options(predictor)
            )
    with pytest.raises(ValueError):
        explain.faithfulness(
            predictor.model, predictor.tokenizer, TEXT, [ig], filler="zero", **_options(predictor)
        )


def test_the_edit_rows_remove_and_restore_in_the_given_order():
    ids = torch.tensor([101, 5, 6, 7, 102])
    rows = deletion_insertion._edits(ids, np.array([3, 1, 2]), fill=0)
    assert rows[:4].tolist() == [
        [101, 5, 6, 7, 102],
        [101, 5, 6, 0, 102],
        [101, 0, 6, 0, 102],
        [101, 0, 0, 0, 102],
    ]
    assert rows[4:].tolist() == [
        [101, 0, 0, 0, 102],
        [101, 0, 0, 7, 102],
        [101, 5, 0, 7, 102],
        [101, 5, 6, 7, 102],
    ]


def _fake(words: list[str], values: list[float]) -> explain.Explanation:
    return explain.Explanation(
        method="fake",
        tokens=words,
        token_attributions=values,
        words=words,
        word_attributions=values,
        target=0,
        label="x",
        target_probability=0.9,
        truncated=False,
        total_tokens=len(words),
    )


def test_class_tokens_pool_words_per_class_and_count_texts_not_occurrences():
    stored = {
        "good good film": _fake(["good", "good", "film"], [0.2, 0.4, 0.0]),
        "good plot": _fake(["good", "plot"], [0.2, 0.1]),
        "bad film": _fake(["bad", "film"], [0.8, -0.2]),
        "bad plot": _fake(["bad", "plot"], [0.6, 0.0]),
    }
    examples = [(t, "pos") for t in ["good good film", "good plot"]]
    examples += [(t, "neg") for t in ["bad film", "bad plot"]]
    seen = []
    result = explain.class_tokens(
        lambda text, label: stored[text],
        examples,
        min_count=2,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert result.examples == 4 and seen[-1] == (4, 4)
    assert result.top["pos"] == [("good", pytest.approx(0.4), 2)]  # (0.6 + 0.2) / 2 texts
    assert (
        result.top["neg"] == [("bad", pytest.approx(0.7), 2), ("plot", pytest.approx(0.0), 1)][:1]
    )


def test_examples_per_class_follow_the_predicted_labels():
    predictions = pd.DataFrame(
        {"text": ["a", "b", "c", "d"], "predicted_label": ["pos", "neg;pos", "pos", "neg"]}
    )
    chosen = explain.examples_per_class(predictions, ["neg", "pos"], "multi_label", per_class=2)
    assert chosen == [("b", "neg"), ("d", "neg"), ("a", "pos"), ("b", "pos")]


def test_layer_rows_equal_captum_layer_integrated_gradients(predictor):
    from captum.attr import LayerIntegratedGradients

    from bertviz_lib.explain.explanation import baseline_embeddings, encode, probability_of
    from bertviz_lib.explain.layers import encoder_layers

    model, tokenizer = predictor.model, predictor.tokenizer
    ours = explain.layer_attributions(
        model, tokenizer, TEXT, label_names=predictor.label_names, n_steps=16, **_options(predictor)
    )
    encoded = encode(tokenizer, TEXT, predictor.max_length, torch.device("cpu"))
    inputs = model.get_input_embeddings()(encoded.ids).detach()
    start = baseline_embeddings(model, tokenizer, encoded, "pad")
    forward = probability_of(model, predictor.problem_type, ours.target)
    for layer, row in zip(encoder_layers(model), ours.values, strict=True):
        direct = LayerIntegratedGradients(forward, layer).attribute(
            inputs, baselines=start, additional_forward_args=(encoded.mask,), n_steps=16
        )
        direct = direct[0] if isinstance(direct, tuple) else direct
        assert row == pytest.approx(direct[0].sum(-1).tolist(), abs=1e-4)
