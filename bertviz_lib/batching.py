"""Tokenize once, then cut the data into batches of similar length.

Padding every batch to the longest text in the whole set wastes most of the compute on short
reviews; sorting texts by length inside large shuffled windows keeps batches random enough for
training while padding each only to its longest text (to the next multiple of 8 on a GPU, whose
tensor cores want it; a CPU gains nothing from the extra padding and pays for it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

PAD_MULTIPLE = 8
WINDOW_BATCHES = 50


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids with [CLS] and [SEP], truncated to max_length, unpadded."""
    encoded = tokenizer(
        list(texts), truncation=True, max_length=max_length, padding=False, verbose=False
    )
    return encoded["input_ids"]


def token_counter(tokenizer):
    """Counts of tokens (special tokens included) before truncation, for the data checks."""

    def count(texts: list[str]) -> list[int]:
        encoded = tokenizer(list(texts), truncation=False, padding=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count


def training_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list:
    """Shuffled batches of indices, grouped by length inside windows of WINDOW_BATCHES batches."""
    order = rng.permutation(len(lengths))
    window = batch_size * WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def inference_batches(lengths: Sequence[int], batch_size: int) -> list:
    """Batches of indices sorted by length, for prediction; callers restore the order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padding_multiple(device: torch.device) -> int:
    return PAD_MULTIPLE if device.type == "cuda" else 1


def collate(
    sequences: Sequence[list[int]], pad_id: int, multiple: int = PAD_MULTIPLE
) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence rounded up to `multiple`; mask marks the real tokens."""
    longest = max(len(s) for s in sequences)
    width = -(-longest // multiple) * multiple
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(ids)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def iterate(
    ids: Sequence[list[int]], batches: list, pad_id: int, multiple: int = PAD_MULTIPLE
) -> Iterator[tuple[list, dict]]:
    for batch in batches:
        yield batch, collate([ids[i] for i in batch], pad_id, multiple)
