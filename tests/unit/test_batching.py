"""Length-grouped batches: every row once, little padding, original order restored."""

from __future__ import annotations

import numpy as np
import torch

from bertviz_lib.model import heads
from bertviz_lib.train import batching


def test_training_batches_cover_every_row_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(3, 120, size=1000))
    batches = batching.training_batches(lengths, 16, rng)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(1000))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    random_spread = np.mean([np.ptp(rng.choice(lengths, 16)) for _ in range(len(batches))])
    assert spread < 0.25 * random_spread


def test_training_batches_are_reproducible_for_a_seed():
    lengths = list(range(100))
    first = batching.training_batches(lengths, 8, np.random.default_rng(3))
    again = batching.training_batches(lengths, 8, np.random.default_rng(3))
    assert first == again


def test_collate_pads_to_a_multiple_of_eight_and_masks_the_padding():
    batch = batching.collate([[101, 5, 102], [101, 5, 6, 7, 8, 9, 10, 11, 102]], pad_id=0)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"].sum(dim=1).tolist() == [3, 9]
    assert batch["input_ids"][0, 3:].eq(0).all()


def test_inference_batches_sort_by_length():
    batches = batching.inference_batches([5, 1, 3, 2, 4], 2)
    assert batches == [[1, 3], [2, 4], [0]]


def test_binary_probabilities_are_widened_to_two_columns():
    logits = torch.tensor([[0.0], [2.0]])
    probabilities = heads.probabilities("binary", logits)
    assert probabilities.shape == (2, 2)
    assert torch.allclose(probabilities[:, 1], torch.sigmoid(logits[:, 0]))
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(2))


def test_balanced_class_weights_match_the_hand_computed_values():
    label_ids = np.array([0, 0, 0, 1])  # 4 rows, 2 classes: 4 / (2 * 3) and 4 / (2 * 1)
    weights = heads.class_weights("single_label", label_ids, None, 2)
    assert torch.allclose(weights, torch.tensor([4 / 6, 2.0]))
    positive_weight = heads.class_weights("binary", label_ids, None, 2)
    assert torch.allclose(positive_weight, torch.tensor([3.0]))  # negatives / positives
