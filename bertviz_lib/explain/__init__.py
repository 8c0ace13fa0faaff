"""Explanations of one prediction, and how far each can be trusted.

One concept per module, as in `captum.attr`: the shared start (`explanation`), Integrated
Gradients with its convergence check, gradient × input, the forward-only methods (occlusion, LIME,
KernelSHAP), attributions per encoder layer, faithfulness curves, and tokens per class across data.
"""

from bertviz_lib.config import IG_TOLERANCE
from bertviz_lib.explain.across_data import ClassTokens, class_tokens, examples_per_class
from bertviz_lib.explain.attention import AttentionMaps, attention_maps
from bertviz_lib.explain.deletion_insertion import Faithfulness, faithfulness, filler_for
from bertviz_lib.explain.explanation import BASELINES, Explanation, words_of
from bertviz_lib.explain.gradients import gradient_x_input
from bertviz_lib.explain.integrated_gradients import explain_integrated_gradients
from bertviz_lib.explain.layers import LayerAttributions, layer_attributions
from bertviz_lib.explain.perturbation import kernel_shap, lime, occlusion

FUNCTIONS = {
    "integrated_gradients": explain_integrated_gradients,
    "gradient_x_input": gradient_x_input,
    "occlusion": occlusion,
    "kernel_shap": kernel_shap,
    "lime": lime,
}
METHODS = tuple(FUNCTIONS)
TITLES = {
    "integrated_gradients": "Integrated Gradients",
    "gradient_x_input": "Gradient × input",
    "occlusion": "Occlusion",
    "kernel_shap": "KernelSHAP",
    "lime": "LIME",
}


REPLACEMENT_METHODS = ("occlusion", "kernel_shap", "lime")  # they replace tokens by [PAD] or [MASK]
TOLERANCES = (0.001, 0.005, 0.01, 0.05, 0.1)  # the choices offered for IG's tolerance
ACROSS_DATA_TOLERANCE = 0.05  # per text, when many are averaged: the mean hides each one's error


def method_options(
    method: str,
    target: str | None = None,
    baseline: str = "pad",
    tolerance: float = IG_TOLERANCE,
    n_steps: int | None = None,
) -> dict:
    """The options `explain` passes to `method`, built once for the CLI and the Explain page.

    Integrated Gradients takes a baseline (pad, mask or zero embeddings), a tolerance and, when
    `n_steps` is given, a fixed number of steps instead of its adaptive refinement. The
    replacement methods put [PAD] or [MASK] in place of tokens, so a zero baseline means their
    default ([PAD]) for them. Gradient × input has no baseline.
    """
    if method not in FUNCTIONS:
        raise ValueError(f"Unknown method '{method}'; choose one of {METHODS}.")
    if baseline not in BASELINES:
        raise ValueError(f"Unknown baseline '{baseline}'; choose one of {BASELINES}.")
    options: dict = {} if target is None else {"target": target}
    if method == "integrated_gradients":
        options.update(baseline=baseline, tolerance=tolerance, n_steps=n_steps)
    elif method in REPLACEMENT_METHODS and baseline != "zero":
        options["baseline"] = baseline
    return options


def explain(predictor, text: str, method: str = "integrated_gradients", **options) -> Explanation:
    """Any method on a loaded `Predictor`, with the run's own labels, head and max_length."""
    if method not in FUNCTIONS:
        raise ValueError(f"Unknown method '{method}'; choose one of {METHODS}.")
    settings = {
        "problem_type": predictor.problem_type,
        "label_names": predictor.label_names,
        "max_length": predictor.max_length,
        **options,
    }
    return FUNCTIONS[method](predictor.model, predictor.tokenizer, text, **settings)


def layer_attributions_of(predictor, text: str, **options) -> LayerAttributions:
    """`layer_attributions` on a loaded `Predictor`, on its private copy of the model: the forward
    hooks it sets on each layer would change any prediction another session ran on the shared
    model at the same moment."""
    with predictor.private_model() as (model, tokenizer):
        return layer_attributions(
            model, tokenizer, text, problem_type=predictor.problem_type,
            label_names=predictor.label_names, max_length=predictor.max_length, **options,
        )  # fmt: skip


def attention_maps_of(predictor, text: str) -> AttentionMaps:
    """`attention_maps` on a loaded `Predictor`, on its private copy: they switch the model to the
    eager attention implementation while they run, which the shared model must never see."""
    with predictor.private_model() as (model, tokenizer):
        return attention_maps(model, tokenizer, text, predictor.max_length)


__all__ = [
    "AttentionMaps",
    "attention_maps",
    "attention_maps_of",
    "layer_attributions_of",
    "BASELINES",
    "METHODS",
    "TITLES",
    "ClassTokens",
    "Explanation",
    "Faithfulness",
    "LayerAttributions",
    "ACROSS_DATA_TOLERANCE",
    "REPLACEMENT_METHODS",
    "TOLERANCES",
    "method_options",
    "class_tokens",
    "explain",
    "examples_per_class",
    "explain_integrated_gradients",
    "faithfulness",
    "filler_for",
    "gradient_x_input",
    "kernel_shap",
    "layer_attributions",
    "lime",
    "occlusion",
    "words_of",
]
