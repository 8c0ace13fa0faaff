"""Gradient × input: one backward pass, the cheapest first-order cross-check of IG."""

from __future__ import annotations

import time

import torch

from bertviz_lib.explain.explanation import Explanation, begin, build_explanation, probability_of
from bertviz_lib.model.patches.cls_only import cls_only_in_eval


def gradient_x_input(
    model,
    tokenizer,
    text: str,
    *,
    problem_type: str,
    label_names: list[str],
    target: int | str | None = None,
    max_length: int = 128,
) -> Explanation:
    """Gradient × word embedding: one backward pass, a cheap first-order cross-check of IG."""
    from captum.attr import InputXGradient

    started, encoded, index, probability = begin(
        model, tokenizer, text, problem_type, label_names, target, max_length
    )
    forward = probability_of(model, problem_type, index)
    with torch.enable_grad(), cls_only_in_eval(model):
        inputs = model.get_input_embeddings()(encoded.ids).detach().requires_grad_()
        attributions = InputXGradient(forward).attribute(
            inputs, additional_forward_args=(encoded.mask,)
        )
    return build_explanation(
        "gradient_x_input",
        encoded,
        attributions[0].sum(dim=-1).detach().cpu(),
        label_names,
        target=index,
        target_probability=probability,
        seconds=time.perf_counter() - started,
    )
