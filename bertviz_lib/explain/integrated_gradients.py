"""Integrated Gradients with its convergence delta as the trust check, and an adaptive auto mode.

Captum's `LayerIntegratedGradients` on the word embeddings runs the model on baseline token ids and
interpolates the layer's output; we hand the word embeddings to the model as `inputs_embeds` and run
`IntegratedGradients` on them instead. The numbers are the same (a test checks them against a
direct `LayerIntegratedGradients` call), and a baseline can then be the all-zero embedding too.

The auto mode places its nodes adaptively (see `path_integral`).
"""

from __future__ import annotations

import time

import torch

from .. import heads
from .explanation import (
    BASELINES,
    Explanation,
    baseline_embeddings,
    build_explanation,
    choose_target,
    device_of,
    encode,
    probability_of,
)
from .path_integral import integrate, straight_path


def explain_integrated_gradients(
    model,
    tokenizer,
    text: str,
    *,
    problem_type: str,
    label_names: list[str],
    target: int | str | None = None,
    baseline: str = "pad",
    n_steps: int | None = None,
    tolerance: float = 0.05,
    max_steps: int = 128,
    internal_batch_size: int = 64,
    max_length: int = 128,
) -> Explanation:
    """Integrated Gradients on the word embeddings, with its convergence delta as the trust check.

    A fixed `n_steps` is a plain Captum call. With `n_steps=None` (auto), stretches of the path are
    refined until the sum of their |errors| is under `tolerance` (so errors of opposite sign cannot
    hide each other) or `max_steps` gradient evaluations are spent. `tries` keeps (evaluations so
    far, delta) per round. Completeness: the attributions sum to f(input) - f(baseline) + delta.
    """
    if baseline not in BASELINES:
        raise ValueError(f"Unknown baseline '{baseline}'; choose one of {BASELINES}.")
    started = time.perf_counter()
    model.eval()
    encoded = encode(tokenizer, text, max_length, device_of(model))
    with torch.no_grad():
        inputs = model.get_input_embeddings()(encoded.ids)
        start = baseline_embeddings(model, tokenizer, encoded, baseline)
        both = torch.cat([inputs, start])  # f(input) and f(baseline) in one forward pass
        logits = model(inputs_embeds=both, attention_mask=encoded.mask.expand(2, -1)).logits
        endpoints = heads.probabilities(problem_type, logits)
    index = choose_target(endpoints[0], label_names, target)
    probability, baseline_probability = (float(p) for p in endpoints[:, index])
    forward = probability_of(model, problem_type, index)
    if n_steps:
        attributions = _captum(forward, inputs, start, encoded.mask, n_steps, internal_batch_size)
        delta = float(attributions.sum()) - (probability - baseline_probability)
        tries, steps, error = [(n_steps, delta)], n_steps, abs(delta)
    else:
        path = straight_path(forward, inputs, start, encoded.mask, internal_batch_size)
        attributions, tries, steps, error = integrate(
            path, baseline_probability, probability, tolerance=tolerance, max_steps=max_steps
        )
        delta = tries[-1][1]
    return build_explanation(
        "integrated_gradients",
        encoded,
        attributions,
        label_names,
        target=index,
        target_probability=probability,
        baseline=baseline,
        baseline_probability=baseline_probability,
        n_steps=steps,
        delta=delta,
        converged=error < tolerance,
        tries=tries,
        seconds=time.perf_counter() - started,
    )


def _captum(forward, inputs, start, mask, n_steps: int, batch: int) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    with torch.enable_grad():
        attributions = IntegratedGradients(forward).attribute(
            inputs,
            baselines=start,
            additional_forward_args=(mask,),
            n_steps=n_steps,
            internal_batch_size=batch,
        )
    return attributions[0].sum(dim=-1).detach().float().cpu()
