"""The last layer computing [CLS] alone while training: the same loss and gradients as the whole
layer, the whole layer in evaluation unless asked (and then in the asking thread alone), and a
saved model that is a plain BERT classifier."""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

from bertviz_lib.model.patches.cls_only import cls_only_in_eval, compute_only_cls_in_last_layer
from tests.helpers import assert_same_training_step, batch, twins


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("padded", [True, False])
def test_training_loss_and_gradients_equal_the_whole_layer(attention, padded):
    assert_same_training_step(*twins(attention=attention), batch(padded))


def test_evaluation_runs_the_whole_layer():
    whole, short = twins()
    for model in (whole, short):
        model.eval()
    with torch.no_grad():
        outputs = [m(**batch(True), output_hidden_states=True) for m in (whole, short)]
    assert outputs[1].hidden_states[-1].shape == (4, 9, 32)  # every position, not [CLS] alone
    torch.testing.assert_close(outputs[0].hidden_states[-1], outputs[1].hidden_states[-1])


def last_hidden(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**batch(True), output_hidden_states=True).hidden_states[-1]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_asked_in_evaluation_the_logits_and_input_gradients_are_the_whole_layers(attention):
    whole, short = twins(dropout=0.1, attention=attention)  # eval mode: no dropout either way
    embeddings = whole.get_input_embeddings()(batch(True)["input_ids"]).detach()
    mask = batch(True)["attention_mask"]
    results = []
    for model in (whole.eval(), short.eval()):
        points = embeddings.clone().requires_grad_()
        with cls_only_in_eval(short) as shortcut:
            logits = model(inputs_embeds=points, attention_mask=mask).logits
            (gradient,) = torch.autograd.grad(logits.softmax(-1)[:, 1].sum(), points)
        results.append((logits, gradient))
    assert shortcut
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)
    with cls_only_in_eval(short):
        assert last_hidden(short).shape == (4, 1, 32)  # the shortcut ran: [CLS] alone
    assert last_hidden(short).shape == (4, 9, 32)  # and ends with the block


def test_asking_in_one_thread_leaves_another_threads_layer_whole():
    _, short = twins()
    shapes = []
    with cls_only_in_eval(short):
        other = threading.Thread(target=lambda: shapes.append(last_hidden(short).shape))
        other.start()
        other.join()
        shapes.append(last_hidden(short).shape)
    assert shapes == [(4, 9, 32), (4, 1, 32)]


def test_training_with_dropout_runs_and_reaches_every_weight():
    _, short = twins(dropout=0.1)
    short.train()(**batch(True), labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    assert all(p.grad is not None for p in short.parameters() if p.requires_grad)


def test_a_saved_model_is_a_plain_bert_classifier(tmp_path):
    whole, short = twins()
    short.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, use_safetensors=True)
    assert "forward" not in vars(loaded.bert.encoder.layer[-1])
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.eval()(**batch(True)).logits, whole.eval()(**batch(True)).logits
        )


def test_other_architectures_keep_their_layers():
    config = DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64)
    model = DistilBertForSequenceClassification(config)
    assert not compute_only_cls_in_last_layer(model)
    with cls_only_in_eval(model) as shortcut:
        assert not shortcut
