"""Explanations of one prediction, and how far each can be trusted.

One concept per module, as in `captum.attr`: the shared start (`explanation`), Integrated
Gradients with its convergence check, gradient × input, the forward-only methods (occlusion, LIME,
KernelSHAP), attributions per encoder layer, faithfulness curves, and tokens per class across data.
"""

from bertviz_lib.explain.across_data import ClassTokens, class_tokens, examples_per_class
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


__all__ = [
    "BASELINES",
    "METHODS",
    "TITLES",
    "ClassTokens",
    "Explanation",
    "Faithfulness",
    "LayerAttributions",
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
