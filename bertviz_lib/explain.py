"""Token attributions for one text: Integrated Gradients with a trust check, and two cross-checks.

What is attributed is the predicted probability of the target class (softmax for single_label, the
sigmoid of the one logit for binary, read as 1 - p for the negative class, and the label's own
sigmoid for multi_label), not a logit: a probability is what the user sees on the Predict page, and
its differences have a scale (0 to 1) against which a tolerance on the convergence delta means
something.

Integrated Gradients works on the word-embedding layer. Captum's `LayerIntegratedGradients` does
this by running the model on baseline token ids and interpolating the layer's output; we hand the
word embeddings to the model as `inputs_embeds` and run `IntegratedGradients` on them instead. The
numbers are the same (a test checks them against a direct `LayerIntegratedGradients` call), and a
baseline can then be any embedding, the all-zero one included, not only the embedding of some ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import heads

BASELINES = ("pad", "mask", "zero")
METHODS = ("integrated_gradients", "gradient_x_input", "occlusion")
AUTO_START_STEPS = 8


@dataclass
class Explanation:
    """One explanation, JSON-ready through `dataclasses.asdict` (plain Python numbers only)."""

    method: str
    tokens: list[str]
    token_attributions: list[float]
    words: list[str]
    word_attributions: list[float]
    target: int
    label: str
    target_probability: float
    truncated: bool
    total_tokens: int
    seconds: float = 0.0
    baseline: str | None = None
    baseline_probability: float | None = None
    n_steps: int | None = None
    delta: float | None = None
    converged: bool | None = None
    tries: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class _Encoded:
    """A text as the model sees it, with what the explanation needs to say about it."""

    ids: torch.Tensor  # (1, n)
    mask: torch.Tensor  # (1, n)
    tokens: list[str]
    special: list[bool]
    truncated: bool
    total_tokens: int


def _encode(tokenizer, text: str, max_length: int, device: torch.device) -> _Encoded:
    full = tokenizer(text, truncation=False, verbose=False)["input_ids"]
    window = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    ids = window["input_ids"]
    listed = ids[0].tolist()
    special_ids = set(tokenizer.all_special_ids)
    return _Encoded(
        ids=ids.to(device),
        mask=window["attention_mask"].to(device),
        tokens=tokenizer.convert_ids_to_tokens(listed),
        special=[i in special_ids for i in listed],
        truncated=len(full) > len(listed),
        total_tokens=len(full),
    )


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _probability_of(model, problem_type: str, target: int) -> Callable:
    """f(embeddings, mask) -> the target's probability per row: what every method explains."""

    def forward(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = model(inputs_embeds=embeddings, attention_mask=mask).logits
        return heads.probabilities(problem_type, logits)[:, target]

    return forward


def _resolve_target(
    model, encoded: _Encoded, problem_type: str, label_names: list[str], target: int | str | None
) -> tuple[int, float]:
    """The target index (predicted when None; a label name is accepted) and its probability."""
    with torch.no_grad():
        logits = model(input_ids=encoded.ids, attention_mask=encoded.mask).logits
        probabilities = heads.probabilities(problem_type, logits)[0]
    if target is None:
        index = int(torch.argmax(probabilities))
    elif isinstance(target, str):
        if target not in label_names:
            raise ValueError(f"Unknown target label '{target}'; the labels are {label_names}.")
        index = label_names.index(target)
    else:
        index = int(target)
        if not 0 <= index < len(label_names):
            raise ValueError(f"Target index {index} is outside 0..{len(label_names) - 1}.")
    return index, float(probabilities[index])


def _baseline_embeddings(model, tokenizer, encoded: _Encoded, baseline: str) -> torch.Tensor:
    """[CLS] + filler + [SEP] in the embedding space; "zero" is the all-zero embedding."""
    embed = model.get_input_embeddings()
    if baseline == "zero":
        return torch.zeros_like(embed(encoded.ids))
    filler = {"pad": tokenizer.pad_token_id, "mask": tokenizer.mask_token_id}[baseline]
    ids = torch.where(
        torch.tensor(encoded.special, device=encoded.ids.device),
        encoded.ids[0],
        torch.full_like(encoded.ids[0], filler),
    )
    return embed(ids.unsqueeze(0)).detach()


def _begin(
    model,
    tokenizer,
    text: str,
    problem_type: str,
    label_names: list[str],
    target: int | str | None,
    max_length: int,
):
    """What every method starts from: the clock, the encoded text, the target and its p."""
    started = time.perf_counter()
    model.eval()
    encoded = _encode(tokenizer, text, max_length, _device(model))
    index, probability = _resolve_target(model, encoded, problem_type, label_names, target)
    return started, encoded, index, probability


def step_schedule(max_steps: int) -> list[int]:
    """Doubling step counts from 8 up to the cap, the cap always last: 8, 16, 32, 64, 128."""
    steps, n = [], AUTO_START_STEPS
    while n < max_steps:
        steps.append(n)
        n *= 2
    return [*steps, max_steps]


def words_of(
    tokens: list[str], attributions: list[float], special: list[bool]
) -> tuple[list[str], list[float]]:
    """WordPiece pieces joined into words ('##' continues the word before), attributions summed."""
    words: list[str] = []
    sums: list[float] = []
    joinable = False
    for token, value, is_special in zip(tokens, attributions, special, strict=True):
        if is_special:
            joinable = False
            continue
        if joinable and token.startswith("##"):
            words[-1] += token[2:]
            sums[-1] += value
        else:
            words.append(token)
            sums.append(value)
        joinable = True
    return words, sums


def _explanation(
    method: str, encoded: _Encoded, attributions: torch.Tensor, label_names: list[str], **fields
) -> Explanation:
    per_token = [float(x) for x in attributions]
    words, per_word = words_of(encoded.tokens, per_token, encoded.special)
    return Explanation(
        method=method,
        tokens=list(encoded.tokens),
        token_attributions=per_token,
        words=words,
        word_attributions=per_word,
        label=label_names[fields["target"]],
        truncated=encoded.truncated,
        total_tokens=encoded.total_tokens,
        **fields,
    )


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
    internal_batch_size: int = 32,
    max_length: int = 128,
) -> Explanation:
    """Integrated Gradients on the word embeddings, with its convergence delta as the trust check.

    With `n_steps=None` (auto) the step count doubles from 8 until |delta| < `tolerance` (absolute,
    in probability units) or `max_steps` is reached; every try is kept so the page can say which of
    the two happened. Completeness: the attributions sum to f(input) - f(baseline) + delta.
    """
    from captum.attr import IntegratedGradients

    if baseline not in BASELINES:
        raise ValueError(f"Unknown baseline '{baseline}'; choose one of {BASELINES}.")
    started, encoded, index, probability = _begin(
        model, tokenizer, text, problem_type, label_names, target, max_length
    )
    forward = _probability_of(model, problem_type, index)
    with torch.no_grad():
        inputs = model.get_input_embeddings()(encoded.ids)
        start = _baseline_embeddings(model, tokenizer, encoded, baseline)
        baseline_probability = float(forward(start, encoded.mask)[0])
    integrated = IntegratedGradients(forward)
    tries: list[tuple[int, float]] = []
    with torch.enable_grad():
        for steps in [n_steps] if n_steps else step_schedule(max_steps):
            attributions, delta = integrated.attribute(
                inputs,
                baselines=start,
                additional_forward_args=(encoded.mask,),
                n_steps=steps,
                internal_batch_size=internal_batch_size,
                return_convergence_delta=True,
            )
            tries.append((steps, float(delta[0])))
            if abs(tries[-1][1]) < tolerance:
                break
    return _explanation(
        "integrated_gradients",
        encoded,
        attributions[0].sum(dim=-1).detach().cpu(),
        label_names,
        target=index,
        target_probability=probability,
        baseline=baseline,
        baseline_probability=baseline_probability,
        n_steps=tries[-1][0],
        delta=tries[-1][1],
        converged=abs(tries[-1][1]) < tolerance,
        tries=tries,
        seconds=time.perf_counter() - started,
    )


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

    started, encoded, index, probability = _begin(
        model, tokenizer, text, problem_type, label_names, target, max_length
    )
    forward = _probability_of(model, problem_type, index)
    with torch.enable_grad():
        inputs = model.get_input_embeddings()(encoded.ids).detach().requires_grad_()
        attributions = InputXGradient(forward).attribute(
            inputs, additional_forward_args=(encoded.mask,)
        )
    return _explanation(
        "gradient_x_input",
        encoded,
        attributions[0].sum(dim=-1).detach().cpu(),
        label_names,
        target=index,
        target_probability=probability,
        seconds=time.perf_counter() - started,
    )


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
    started, encoded, index, probability = _begin(
        model, tokenizer, text, problem_type, label_names, target, max_length
    )
    filler = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    positions = [i for i, is_special in enumerate(encoded.special) if not is_special]
    drops = torch.zeros(len(encoded.tokens))
    with torch.no_grad():
        for chunk in range(0, len(positions), batch_size):
            rows = positions[chunk : chunk + batch_size]
            ids = encoded.ids.repeat(len(rows), 1)
            ids[torch.arange(len(rows)), torch.tensor(rows)] = filler
            logits = model(input_ids=ids, attention_mask=encoded.mask.expand_as(ids)).logits
            occluded = heads.probabilities(problem_type, logits)[:, index].cpu()
            drops[rows] = probability - occluded
    return _explanation(
        "occlusion",
        encoded,
        drops,
        label_names,
        target=index,
        target_probability=probability,
        baseline=baseline,
        seconds=time.perf_counter() - started,
    )


def explain(predictor, text: str, method: str = "integrated_gradients", **options) -> Explanation:
    """Any method on a loaded `Predictor`, with the run's own labels, head and max_length."""
    functions = {
        "integrated_gradients": explain_integrated_gradients,
        "gradient_x_input": gradient_x_input,
        "occlusion": occlusion,
    }
    if method not in functions:
        raise ValueError(f"Unknown method '{method}'; choose one of {METHODS}.")
    settings = {
        "problem_type": predictor.problem_type,
        "label_names": predictor.label_names,
        "max_length": predictor.max_length,
        **options,
    }
    return functions[method](predictor.model, predictor.tokenizer, text, **settings)
