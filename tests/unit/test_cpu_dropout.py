"""The cheaper CPU dropout: the same Bernoulli mask statistics as torch's, the same arithmetic as
BERT's own attention when nothing is dropped, and a saved model that knows nothing of it."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
)

from bertviz_lib.model.patches.cls_only import compute_only_cls_in_last_layer
from bertviz_lib.model.patches.cpu_dropout import (
    ATTENTION,
    CpuDropout,
    drop,
    keep_mask,
    use_cpu_dropout,
)
from tests.helpers import SMALL, assert_same_training_step, batch


def test_the_mask_keeps_one_minus_p_in_every_16_bit_lane():
    torch.manual_seed(0)
    keep, share = keep_mask(torch.Size([1000, 2000]), 0.1)
    assert share == pytest.approx(0.9, abs=1e-5)
    # Four lanes come from each 64-bit draw; a lane with a stuck sign bit would keep 0.8 or 1.0.
    lanes = keep.flatten()[:2_000_000].view(-1, 4).float().mean(dim=0)
    torch.testing.assert_close(lanes, torch.full((4,), share), rtol=0, atol=2e-3)
    assert keep.float().mean().item() == pytest.approx(share, abs=1e-3)


def test_drop_keeps_the_expected_value_and_its_gradient_is_the_scaled_mask():
    torch.manual_seed(0)
    x = torch.full((500, 400), 2.0, requires_grad=True)
    y = drop(x, 0.25, training=True)
    assert y.mean().item() == pytest.approx(2.0, rel=0.01)
    y.sum().backward()
    kept = y != 0
    assert 0.73 < kept.float().mean().item() < 0.77
    torch.testing.assert_close(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))
    assert torch.all(x.grad[~kept] == 0)


def test_drop_is_the_identity_in_evaluation_and_zero_at_p_one():
    x = torch.randn(3, 5)
    assert drop(x, 0.5, training=False) is x
    assert drop(x, 0.0, training=True) is x
    assert torch.all(drop(x, 1.0, training=True) == 0)


def pair(dropout: float = 0.0, attention_dropout: float | None = None, cls_only: bool = False):
    attention_dropout = dropout if attention_dropout is None else attention_dropout
    config = BertConfig(
        **SMALL,
        num_labels=3,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=attention_dropout,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    plain = BertForSequenceClassification(config)
    cheap = BertForSequenceClassification(config)
    cheap.load_state_dict(plain.state_dict())
    assert use_cpu_dropout(cheap)
    if cls_only:
        assert compute_only_cls_in_last_layer(plain) and compute_only_cls_in_last_layer(cheap)
    return plain, cheap


def test_every_dropout_module_is_replaced_and_attention_uses_its_own_function():
    _, cheap = pair(0.1)
    kinds = {type(m) for m in cheap.modules()}
    assert CpuDropout in kinds and torch.nn.Dropout not in kinds
    assert cheap.config._attn_implementation == ATTENTION


@pytest.mark.parametrize("cls_only", [False, True])
def test_with_nothing_dropped_loss_and_gradients_equal_bert_with_sdpa(cls_only):
    assert_same_training_step(*pair(0.0, cls_only=cls_only), batch(padded=True))


def test_evaluation_with_padding_equals_bert_with_sdpa():
    plain, cheap = pair(0.1)
    with torch.no_grad():
        expected, got = (m.eval()(**batch(padded=True)).logits for m in (plain, cheap))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_attention_probabilities_are_dropped_while_training():
    _, cheap = pair(0.0, attention_dropout=0.5)
    cheap.train()
    inputs = batch(padded=True)
    torch.manual_seed(2)
    first = cheap(**inputs).logits
    second = cheap(**inputs).logits
    assert not torch.allclose(first, second)
    torch.manual_seed(2)
    torch.testing.assert_close(cheap(**inputs).logits, first)  # seeded, so reproducible


def test_a_saved_model_is_plain_bert(tmp_path):
    _, cheap = pair(0.1)
    cheap.save_pretrained(tmp_path)
    assert ATTENTION not in json.dumps(json.loads((tmp_path / "config.json").read_text()))
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(loaded) is BertForSequenceClassification
    assert loaded.config._attn_implementation != ATTENTION
    assert not any(isinstance(m, CpuDropout) for m in loaded.modules())


def test_other_architectures_are_left_alone():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=120, dim=32, n_layers=1, n_heads=4, hidden_dim=64)
    )
    assert not use_cpu_dropout(model)
    assert not any(isinstance(m, CpuDropout) for m in model.modules())
