"""Attention maps and rollout on the tiny model and on hand-made matrices."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from bertviz_lib.explain.attention import attention_maps, rank_agreement, rollout


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def test_maps_have_layers_heads_tokens_shape_and_rows_sum_to_one(tiny):
    model, tokenizer = tiny
    maps = attention_maps(model, tokenizer, "the film was <b>great</b>")
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    assert maps.attentions.shape == (layers, heads, len(maps.tokens), len(maps.tokens))
    assert np.allclose(maps.attentions.sum(axis=-1), 1.0, atol=1e-5)
    assert maps.cls_rows.shape == (layers, heads, len(maps.tokens))
    assert np.allclose(maps.rollout().sum(), 1.0, atol=1e-5)
    assert maps.tokens[0] == "[CLS]" and "<" in maps.tokens
    assert model.config._attn_implementation != "eager"  # put back as it was


def test_rollout_of_one_layer_matches_the_hand_computation():
    attention = np.array([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])  # 2 heads
    # head mean [[.5,.5],[.5,.5]]; half of it plus half the identity: [[.75,.25],[.25,.75]]
    assert np.allclose(rollout(attention[None]), [[0.75, 0.25], [0.25, 0.75]])


def test_rollout_rows_sum_to_one_over_many_layers():
    rng = np.random.default_rng(0)
    raw = rng.random((4, 3, 5, 5))
    attentions = raw / raw.sum(axis=-1, keepdims=True)
    assert np.allclose(rollout(attentions).sum(axis=-1), 1.0)


def test_rank_agreement():
    assert rank_agreement([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_agreement([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_agreement([1, 1, 1], [1, 2, 3]) is None
