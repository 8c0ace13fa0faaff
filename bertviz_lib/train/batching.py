"""Tokenize once, then cut the data into batches of similar length.

Padding every batch to the longest text in the whole set wastes most of the compute on short
reviews; sorting texts by length inside large shuffled windows keeps batches random enough for
training while padding each only to its longest text (to the next multiple of 8 on a GPU, whose
tensor cores want it; a CPU gains nothing from the extra padding and pays for it).

A replayed CUDA graph (`graphed_step.py`) wants the opposite: the same few shapes over and over.
For it a batch is padded to the smallest of a few bucket widths that holds its longest text, and
a short last batch is filled up to the full batch size with rows that weigh 0 in the loss.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

PAD_MULTIPLE = 8
WINDOW_BATCHES = 50
BUCKET_STEP = 16


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
    input_ids, attention_mask = _padded(sequences, pad_id, -(-longest // multiple) * multiple)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def _padded(
    sequences: Sequence[list[int]], pad_id: int, width: int, pin: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded to `width` and the mask of the real tokens (in pinned memory if `pin`).

    Built in numpy in one pass, not row by row: on the CUDA-graph path the host's time per step
    is what bounds the speed."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    mask = np.arange(width) < lengths[:, None]
    ids = np.full(mask.shape, pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(sequences), np.int64, lengths.sum())
    input_ids, attention_mask = torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))
    if pin:
        return input_ids.pin_memory(), attention_mask.pin_memory()
    return input_ids, attention_mask


def iterate(
    ids: Sequence[list[int]], batches: list, pad_id: int, multiple: int = PAD_MULTIPLE
) -> Iterator[tuple[list, dict]]:
    for batch in batches:
        yield batch, collate([ids[i] for i in batch], pad_id, multiple)


def bucket_widths(max_length: int) -> list[int]:
    """The few widths a fixed-shape batch is padded to: multiples of 16, each step at most a
    quarter of the width below (16, 32, ..., 112, 128, 160, 192, 240, ...), then max_length.

    Each width is one captured CUDA graph, so there must be few; the steps keep the padding a
    batch pays above its longest text to 15 tokens or a fifth of its width. max_length itself is
    the widest, since no text is longer and the model may have no positions beyond it.
    """
    widths, width = [], BUCKET_STEP
    while width < max_length:
        widths.append(width)
        width += max(BUCKET_STEP, width // 4 // BUCKET_STEP * BUCKET_STEP)
    return widths + [max_length]


def bucket_width(longest: int, widths: Sequence[int]) -> int:
    """The smallest of the sorted `widths` that holds a text of `longest` tokens."""
    return widths[bisect.bisect_left(widths, longest)]


@dataclass
class FixedBatch:
    """A batch of a fixed shape: `rows` texts padded to a bucket width. The rows past the real
    ones repeat the first row (a fully masked row could make attention NaN) and weigh 0."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor  # 1.0 for a real row, 0.0 for a filler

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, width): what a CUDA graph is captured for."""
        rows, width = self.input_ids.shape
        return rows, width

    def tensors(self) -> list[torch.Tensor]:
        return [getattr(self, f.name) for f in fields(self)]


def fixed_batch(
    sequences: Sequence[list[int]],
    targets: torch.Tensor,
    pad_id: int,
    rows: int,
    widths: Sequence[int],
    pin: bool = False,
) -> FixedBatch:
    """Pad `sequences` (with their `targets`) to `rows` rows and the smallest bucket width;
    `pin` puts it in pinned host memory, from which a copy to the GPU does not block."""
    real = len(sequences)
    width = bucket_width(max(len(s) for s in sequences), widths)
    filled = list(sequences) + [sequences[0]] * (rows - real)
    input_ids, attention_mask = _padded(filled, pad_id, width, pin)
    picked = targets[[*range(real), *[0] * (rows - real)]]
    weights = torch.zeros(rows, dtype=torch.float32, pin_memory=pin)
    weights[:real] = 1.0
    return FixedBatch(input_ids, attention_mask, picked.pin_memory() if pin else picked, weights)
