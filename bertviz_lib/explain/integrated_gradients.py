"""Integrated Gradients with its convergence delta as the trust check, and an adaptive auto mode.

Captum's `LayerIntegratedGradients` on the word embeddings runs the model on baseline token ids and
interpolates the layer's output; we hand the word embeddings to the model as `inputs_embeds` and run
`IntegratedGradients` on them instead. The numbers are the same (a test checks them against a
direct `LayerIntegratedGradients` call), and a baseline can then be the all-zero embedding too.

The auto mode places its first nodes from a scan of f along the path, read in the forward pass
that finds the prediction, and then refines where the error is (see `path_integral`). Every pass
computes the last layer for [CLS] alone (`cls_only_in_eval`): only the logits are read.
"""

from __future__ import annotations

import time

import torch

from bertviz_lib.config import IG_TOLERANCE
from bertviz_lib.explain.explanation import Endpoints, Explanation, build_explanation, endpoints
from bertviz_lib.explain.path_integral import SCAN_INTERVALS, integrate, straight_path
from bertviz_lib.model.patches.cls_only import cls_only_in_eval


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
    tolerance: float = IG_TOLERANCE,
    max_steps: int = 128,
    internal_batch_size: int = 64,
    max_length: int = 128,
) -> Explanation:
    """Integrated Gradients on the word embeddings, with its convergence delta as the trust check.

    A fixed `n_steps` is a plain Captum call. With `n_steps=None` (auto), the first nodes are placed
    from a scan of f along the path, then stretches of the path are refined until the sum of their
    |errors| is under `tolerance` (so errors of opposite sign cannot hide each other) or
    `max_steps` gradient evaluations are spent. `tries` keeps (evaluations so far, delta) per
    round. Completeness: the attributions sum to f(input) - f(baseline) + delta.
    """
    ends = endpoints(model, tokenizer, text, problem_type=problem_type, label_names=label_names,
                     target=target, max_length=max_length, baseline=baseline,
                     scan_intervals=0 if n_steps else SCAN_INTERVALS)  # fmt: skip
    with cls_only_in_eval(model):
        if n_steps:
            attributions = _captum(ends, n_steps, internal_batch_size)
            delta = float(attributions.sum()) - ends.change
            tries, steps, error = [(n_steps, delta)], n_steps, abs(delta)
        else:
            path = straight_path(ends.at, ends.start, ends.inputs, internal_batch_size)
            attributions, tries, steps, error = integrate(
                path, ends.baseline_probability, ends.probability, tolerance=tolerance,
                max_steps=max_steps, scan=ends.scan,
            )  # fmt: skip
            delta = tries[-1][1]
    return build_explanation(
        "integrated_gradients",
        ends.encoded,
        attributions,
        label_names,
        target=ends.target,
        target_probability=ends.probability,
        baseline=baseline,
        baseline_probability=ends.baseline_probability,
        n_steps=steps,
        delta=delta,
        converged=error < tolerance,
        tries=tries,
        seconds=time.perf_counter() - ends.started,
    )


def _captum(ends: Endpoints, n_steps: int, batch: int) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    with torch.enable_grad():
        attributions = IntegratedGradients(ends.forward).attribute(
            ends.inputs,
            baselines=ends.start,
            additional_forward_args=(ends.encoded.mask,),
            n_steps=n_steps,
            internal_batch_size=batch,
        )
    return attributions[0].sum(dim=-1).detach().float().cpu()
