"""Integrated Gradients at the output of every encoder layer: a token × layer map of where the
evidence for the target sits as the text moves up the network.

For each layer, its output is moved from its value on the baseline to its value on the text while
the layers above it run as usual (what Captum's `LayerIntegratedGradients` does), so each row keeps
IG's completeness, sums to p(text) - p(baseline), and has its own convergence delta. The nodes are
placed by the same adaptive rule as the word-embedding IG.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from bertviz_lib.config import IG_TOLERANCE
from bertviz_lib.explain.explanation import Endpoints, endpoints
from bertviz_lib.explain.path_integral import Path, integrate, straight_path
from bertviz_lib.model.patches.cls_only import cls_only_in_eval


@dataclass
class LayerAttributions:
    tokens: list[str]
    values: list[list[float]]  # layers x tokens
    deltas: list[float]  # one convergence delta per layer
    steps: list[int]  # gradient evaluations per layer
    converged: bool  # every layer's summed error under the tolerance
    target: int
    label: str
    seconds: float


def encoder_layers(model) -> torch.nn.ModuleList:
    """The stack of encoder layers, found by its length so BERT, RoBERTa and DistilBERT all work."""
    count = model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError("This model has no stack of encoder layers to attribute to.")


def layer_attributions(
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
) -> LayerAttributions:
    ends = endpoints(model, tokenizer, text, problem_type=problem_type, label_names=label_names,
                     target=target, max_length=max_length, baseline=baseline)  # fmt: skip
    values, deltas, steps, errors = [], [], [], []
    for layer in encoder_layers(model):
        path = _layer_path(ends, layer, internal_batch_size)
        with cls_only_in_eval(model):  # at the last layer, the hook patches in every position
            per_token, tries, spent, error = integrate(
                path,
                ends.baseline_probability,
                ends.probability,
                n_steps=n_steps,
                tolerance=tolerance,
                max_steps=max_steps,
            )
        values.append(per_token.numpy())
        deltas.append(tries[-1][1])
        steps.append(spent)
        errors.append(error)
    return LayerAttributions(
        tokens=list(ends.encoded.tokens),
        values=np.stack(values).tolist(),
        deltas=deltas,
        steps=steps,
        converged=max(errors) < tolerance,
        target=ends.target,
        label=label_names[ends.target],
        seconds=time.perf_counter() - ends.started,
    )


@contextmanager
def _hooked(layer: torch.nn.Module, hook):
    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _first(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _layer_path(ends: Endpoints, layer: torch.nn.Module, batch: int) -> Path:
    """The straight path between the layer's outputs on the baseline and on the text, each point
    patched in as the layer's output while the layers above run as usual."""
    seen = {}
    with torch.no_grad(), _hooked(layer, lambda m, a, out: seen.update(out=_first(out))):
        ends.at(torch.cat([ends.inputs, ends.start]))
    text_out, baseline_out = seen["out"][:1], seen["out"][1:]

    def run(points: torch.Tensor) -> torch.Tensor:
        def replace(module, args, output):
            return (points, *output[1:]) if isinstance(output, tuple) else points

        with _hooked(layer, replace):
            return ends.at(ends.inputs.expand(len(points), -1, -1))

    return straight_path(run, baseline_out, text_out, batch)
