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

from .explanation import baseline_embeddings, begin, probability_of
from .path_integral import Path, integrate


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
    tolerance: float = 0.01,
    max_steps: int = 128,
    internal_batch_size: int = 64,
    max_length: int = 128,
) -> LayerAttributions:
    started, encoded, index, probability = begin(
        model, tokenizer, text, problem_type, label_names, target, max_length
    )
    forward = probability_of(model, problem_type, index)
    with torch.no_grad():
        inputs = model.get_input_embeddings()(encoded.ids)
        start = baseline_embeddings(model, tokenizer, encoded, baseline)
        baseline_probability = float(forward(start, encoded.mask)[0])
    values, deltas, steps, errors = [], [], [], []
    for layer in encoder_layers(model):
        path = _layer_path(forward, layer, inputs, start, encoded.mask, internal_batch_size)
        per_token, tries, spent, error = integrate(
            path,
            baseline_probability,
            probability,
            n_steps=n_steps,
            tolerance=tolerance,
            max_steps=max_steps,
        )
        values.append(per_token.numpy())
        deltas.append(tries[-1][1])
        steps.append(spent)
        errors.append(error)
    return LayerAttributions(
        tokens=list(encoded.tokens),
        values=np.stack(values).tolist(),
        deltas=deltas,
        steps=steps,
        converged=max(errors) < tolerance,
        target=index,
        label=label_names[index],
        seconds=time.perf_counter() - started,
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


def _layer_path(forward, layer, inputs, start, mask, batch: int) -> Path:
    """The straight path between the layer's outputs on the baseline and on the text."""
    seen = {}
    with torch.no_grad(), _hooked(layer, lambda m, a, out: seen.update(out=_first(out))):
        forward(torch.cat([inputs, start]), mask.expand(2, -1))
    text_out, baseline_out = seen["out"][:1], seen["out"][1:]
    difference = text_out - baseline_out

    def path(alphas: list[float]) -> tuple[torch.Tensor, np.ndarray]:
        gradients, values = [], []
        for first in range(0, len(alphas), batch):
            alpha = torch.tensor(
                alphas[first : first + batch], dtype=inputs.dtype, device=inputs.device
            )
            points = (baseline_out + alpha.view(-1, 1, 1) * difference).requires_grad_()

            def replace(module, args, output, points=points):
                return (points, *output[1:]) if isinstance(output, tuple) else points

            with torch.enable_grad(), _hooked(layer, replace):
                out = forward(inputs.expand(len(alpha), -1, -1), mask.expand(len(alpha), -1))
                (gradient,) = torch.autograd.grad(out.sum(), points)
            gradients.append((gradient * difference).sum(dim=-1).detach().float().cpu())
            values.append(out.detach().float().cpu())
        return torch.cat(gradients), torch.cat(values).numpy()

    return path
