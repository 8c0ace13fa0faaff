"""Attributions that only run the model forward: occlusion, LIME and KernelSHAP over tokens.

They need no gradients, so they disagree with IG exactly where the model is far from linear. Each
token is one feature; [CLS] and [SEP] are never taken away (their attribution is 0).
"""

from __future__ import annotations

import time

import torch

from bertviz_lib.explain.explanation import Explanation, begin, build_explanation, endpoints
from bertviz_lib.model import heads
from bertviz_lib.model.patches.cls_only import cls_only_in_eval


def occlusion(
    model,
    tokenizer,
    text: str,
    *,
    problem_type: str,
    label_names: list[str],
    target: int | str | None = None,
    baseline: str = "pad",
    max_length: int = 128,
    batch_size: int = 64,
) -> Explanation:
    """Each token's attribution is the drop in the target's probability when it alone is replaced.

    Model-agnostic and gradient-free, so it disagrees with IG exactly where the model is far from
    linear. [CLS] and [SEP] are never replaced (their attribution is 0).
    """
    if baseline not in ("pad", "mask"):
        raise ValueError("Occlusion replaces tokens by 'pad' or 'mask'.")
    started, encoded, index, probability = begin(
        model, tokenizer, text, problem_type, label_names, target, max_length
    )
    filler = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    positions = [i for i, is_special in enumerate(encoded.special) if not is_special]
    drops = torch.zeros(len(encoded.tokens))
    with torch.no_grad(), cls_only_in_eval(model):
        for chunk in range(0, len(positions), batch_size):
            rows = positions[chunk : chunk + batch_size]
            ids = encoded.ids.repeat(len(rows), 1)
            ids[torch.arange(len(rows)), torch.tensor(rows)] = filler
            logits = model(input_ids=ids, attention_mask=encoded.mask.expand_as(ids)).logits
            occluded = heads.probabilities(problem_type, logits)[:, index].cpu()
            drops[rows] = probability - occluded
    return build_explanation(
        "occlusion",
        encoded,
        drops,
        label_names,
        target=index,
        target_probability=probability,
        baseline=baseline,
        seconds=time.perf_counter() - started,
    )


def kernel_shap(model, tokenizer, text: str, **options) -> Explanation:
    """Shapley values of the tokens, estimated by Captum's KernelShap from sampled coalitions.

    They should add up to p(text) - p(baseline); the gap is reported as `delta`, so a user can see
    when too few samples were drawn.
    """
    return _sampled("kernel_shap", model, tokenizer, text, **options)


def lime(model, tokenizer, text: str, **options) -> Explanation:
    """Captum's Lime: a linear surrogate fitted to randomly masked copies of the text, weighted by
    their closeness to it. Coefficients, not shares of p: no completeness to check."""
    return _sampled("lime", model, tokenizer, text, **options)


def _sampled(
    method: str,
    model,
    tokenizer,
    text: str,
    *,
    problem_type: str,
    label_names: list[str],
    target: int | str | None = None,
    baseline: str = "pad",
    n_samples: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    max_length: int = 128,
) -> Explanation:
    from captum._utils.models.linear_model import SkLearnLinearRegression
    from captum.attr import KernelShap, Lime

    ends = endpoints(model, tokenizer, text, problem_type=problem_type, label_names=label_names,
                     target=target, max_length=max_length, baseline=baseline)  # fmt: skip
    encoded, inputs = ends.encoded, ends.inputs
    features = torch.arange(len(encoded.tokens), device=inputs.device).view(1, -1, 1)
    samples = n_samples or max(200, 4 * len(encoded.tokens))
    if method == "kernel_shap":
        explainer = KernelShap(ends.forward)
    else:
        explainer = Lime(ends.forward, interpretable_model=SkLearnLinearRegression())
    with torch.no_grad(), torch.random.fork_rng(devices=[]), cls_only_in_eval(model):
        torch.manual_seed(seed)
        attributions = explainer.attribute(
            inputs,
            baselines=ends.start,
            additional_forward_args=(encoded.mask,),
            feature_mask=features,
            n_samples=samples,
            perturbations_per_eval=batch_size,
        )
    special = torch.tensor(encoded.special)  # never taken away: their coefficient means nothing
    values = attributions[0, :, 0].detach().float().cpu().masked_fill(special, 0.0)
    gap = float(values.sum()) - ends.change
    return build_explanation(
        method,
        encoded,
        values,
        label_names,
        target=ends.target,
        target_probability=ends.probability,
        baseline=baseline,
        baseline_probability=ends.baseline_probability,
        n_samples=samples,
        delta=gap if method == "kernel_shap" else None,
        seconds=time.perf_counter() - ends.started,
    )
