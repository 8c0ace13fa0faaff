"""During training, and on request where only the logits are read, the last encoder layer
computes the [CLS] position alone.

Why: a BERT classifier reads one vector, the last layer's [CLS] (through the pooler). Every other
position of the last layer feeds nothing, yet computing it costs as much as computing [CLS]: its
query, its attention output and its feed-forward block, about 10/12 of that layer's work. Keys
and values are still needed for every position, since [CLS] attends to all of them. Skipping the
rest gives the same loss and the same gradients (a test compares them) and removes about a sixth
of a 6-layer model's training compute, which on a CPU is most of what a step costs.

Training takes the shortcut. In evaluation mode the layer runs whole, because attention maps and
hidden states read every position; code that reads only the logits (prediction, and the many
passes of attributions) asks for the shortcut inside `cls_only_in_eval`, which holds for its own
thread alone, so an attention map drawn at the same time in another Streamlit session still sees
every position. The weights are untouched, so a saved model is a plain
BertForSequenceClassification.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import (
    BertForSequenceClassification,
    BertLayer,
    eager_attention_forward,
)

_IN_EVAL = ContextVar("cls_only_in_eval", default=False)


def compute_only_cls_in_last_layer(model: torch.nn.Module) -> bool:
    """Make `model`'s last layer compute [CLS] alone while training (and inside
    `cls_only_in_eval`); False when the model is not one where that is known to be exact (a plain
    BERT encoder under a pooled classifier)."""
    last = _patched_last_layer(model)
    if last is None:
        return False
    last.cls_only_in_training = True
    return True


@contextmanager
def cls_only_in_eval(model: torch.nn.Module) -> Iterator[bool]:
    """Within the block, in this thread, the last layer computes [CLS] alone in evaluation mode
    too (yields whether it does). Only for callers that read nothing but the logits. A model
    patched here alone trains with its whole last layer."""
    from bertviz_lib.model.patches import enabled

    if not enabled() or _patched_last_layer(model) is None:
        yield False
        return
    token = _IN_EVAL.set(True)
    try:
        yield True
    finally:
        _IN_EVAL.reset(token)


def _patched_last_layer(model: torch.nn.Module) -> BertLayer | None:
    """The last layer with the [CLS]-only forward installed, or None where it would not be exact."""
    if type(model) is not BertForSequenceClassification:
        return None
    last = model.bert.encoder.layer[-1]
    if type(last) is not BertLayer or last.is_decoder or last.chunk_size_feed_forward:
        return None
    if getattr(last.forward, "__func__", None) is not _forward:
        last.forward = types.MethodType(_forward, last)
    return last


def _forward(layer: BertLayer, hidden_states: torch.Tensor, attention_mask=None, *args, **kwargs):
    in_training = layer.training and getattr(layer, "cls_only_in_training", False)
    if not (in_training or _IN_EVAL.get()):
        return BertLayer.forward(layer, hidden_states, attention_mask, *args, **kwargs)
    attention = layer.attention.self
    rows, width, _ = hidden_states.shape
    first = hidden_states[:, :1]

    def heads(states: torch.Tensor, projection: torch.nn.Linear) -> torch.Tensor:
        return projection(states).view(rows, states.shape[1], -1, attention.attention_head_size)

    query = heads(first, attention.query).transpose(1, 2)
    key = heads(hidden_states, attention.key).transpose(1, 2)
    value = heads(hidden_states, attention.value).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4:
        attention_mask = attention_mask[:, :, :1, :]  # the [CLS] query's row
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        attention.config._attn_implementation, eager_attention_forward
    )
    context, _ = interface(
        attention, query, key, value, attention_mask,
        dropout=attention.dropout.p if layer.training else 0.0, scaling=attention.scaling,
    )  # fmt: skip
    attended = layer.attention.output(context.reshape(rows, 1, -1), first)
    return layer.output(layer.intermediate(attended), attended)
