"""The word embedding's sparse gradient: the same clipped AdamW steps as the dense gradient, and a
model left as it was found."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from bertviz_lib.model.patches.sparse_embedding import use_sparse_embedding_gradient
from tests.helpers import SMALL

PAD = 0


def twins() -> tuple[BertForSequenceClassification, BertForSequenceClassification]:
    config = BertConfig(**SMALL, num_labels=3, hidden_dropout_prob=0.0, pad_token_id=PAD,
                        attention_probs_dropout_prob=0.0)  # fmt: skip
    torch.manual_seed(0)
    dense = BertForSequenceClassification(config)
    sparse = BertForSequenceClassification(config)
    sparse.load_state_dict(dense.state_dict())
    return dense, sparse


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Three batches over different rows of the vocabulary, padded, one row used twice in a text:
    each step must zero the rows the step before wrote and sum a row's repeated uses."""
    torch.manual_seed(1)
    made = []
    for low, high in ((5, 40), (40, 80), (10, 60)):
        ids = torch.randint(low, high, (4, 9))
        ids[0, 1] = ids[0, 2]
        ids[1, 6:] = PAD
        made.append((ids, torch.tensor([0, 2, 1, 2])))
    return made


def adamw(model) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01, fused=True)


@pytest.mark.parametrize("max_norm", [0.01, 0.0])
def test_steps_equal_those_with_the_dense_gradient(max_norm):
    dense, sparse = twins()
    optimizers = [adamw(dense), adamw(sparse)]
    rows = use_sparse_embedding_gradient(sparse)
    assert rows is not None and sparse.get_input_embeddings().sparse
    for ids, labels in batches():
        mask = (ids != PAD).long()
        for model in (dense, sparse):
            model.train()(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        assert sparse.get_input_embeddings().weight.grad.is_sparse
        if max_norm:
            total = torch.nn.utils.clip_grad_norm_(dense.parameters(), max_norm, foreach=True)
            assert total > 10 * max_norm  # the clipping is at work, not a no-op
        rows.clip_and_densify(sparse.parameters(), max_norm)
        torch.testing.assert_close(
            sparse.get_input_embeddings().weight.grad, dense.get_input_embeddings().weight.grad,
            rtol=1e-5, atol=1e-9,
        )  # fmt: skip
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for (name, a), b in zip(dense.named_parameters(), sparse.parameters(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    unused = torch.ones(SMALL["vocab_size"], dtype=torch.bool)
    unused[batches()[-1][0].unique()] = False
    assert torch.all(rows.dense[unused] == 0)  # rows of the earlier steps were zeroed


def test_release_gives_dense_gradients_again():
    _, model = twins()
    use_sparse_embedding_gradient(model).release()
    ids, labels = batches()[0]
    model(input_ids=ids, labels=labels).loss.backward()
    assert not model.get_input_embeddings().weight.grad.is_sparse


def test_a_frozen_embedding_is_left_alone():
    _, model = twins()
    model.get_input_embeddings().requires_grad_(False)
    assert use_sparse_embedding_gradient(model) is None
    assert not model.get_input_embeddings().sparse
