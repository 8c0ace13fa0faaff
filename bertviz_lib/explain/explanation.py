"""What every attribution method shares: the encoded text, the target, and the result's shape.

What is attributed is the predicted probability of the target class (softmax for single_label, the
sigmoid of the one logit for binary, read as 1 - p for the negative class, and the label's own
sigmoid for multi_label), not a logit: a probability is what the user sees on the Predict page, and
its differences have a scale (0 to 1) against which a tolerance on the convergence delta means
something.

The gradient and sampling methods work on the word embeddings (handed to the model as
`inputs_embeds`), so a baseline can be any embedding; occlusion replaces token ids. Every method
keeps [CLS] and [SEP] in place and takes only the words away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bertviz_lib.model import heads
from bertviz_lib.model.patches.cls_only import cls_only_in_eval

BASELINES = ("pad", "mask", "zero")


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
    n_samples: int | None = None
    delta: float | None = None
    converged: bool | None = None
    tries: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class EncodedText:
    """A text as the model sees it, with what the explanation needs to say about it."""

    ids: torch.Tensor  # (1, n)
    mask: torch.Tensor  # (1, n)
    tokens: list[str]
    special: list[bool]
    truncated: bool
    total_tokens: int


def encode(tokenizer, text: str, max_length: int, device: torch.device) -> EncodedText:
    full = tokenizer(text, truncation=False, verbose=False)["input_ids"]
    window = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    ids = window["input_ids"]
    listed = ids[0].tolist()
    special_ids = set(tokenizer.all_special_ids)
    return EncodedText(
        ids=ids.to(device),
        mask=window["attention_mask"].to(device),
        tokens=tokenizer.convert_ids_to_tokens(listed),
        special=[i in special_ids for i in listed],
        truncated=len(full) > len(listed),
        total_tokens=len(full),
    )


def device_of(model) -> torch.device:
    return next(model.parameters()).device


def probability_of(model, problem_type: str, target: int) -> Callable:
    """f(embeddings, mask) -> the target's probability per row: what every method explains."""

    def forward(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = model(inputs_embeds=embeddings, attention_mask=mask).logits
        return heads.probabilities(problem_type, logits)[:, target]

    return forward


def resolve_target(
    model, encoded: EncodedText, problem_type: str, label_names: list[str], target: int | str | None
) -> tuple[int, float]:
    """The target index (predicted when None; a label name is accepted) and its probability."""
    with torch.no_grad():
        logits = model(input_ids=encoded.ids, attention_mask=encoded.mask).logits
        probabilities = heads.probabilities(problem_type, logits)[0]
    index = choose_target(probabilities, label_names, target)
    return index, float(probabilities[index])


def choose_target(
    probabilities: torch.Tensor, label_names: list[str], target: int | str | None
) -> int:
    if target is None:
        return int(torch.argmax(probabilities))
    if isinstance(target, str):
        if target not in label_names:
            raise ValueError(f"Unknown target label '{target}'; the labels are {label_names}.")
        return label_names.index(target)
    index = int(target)
    if not 0 <= index < len(label_names):
        raise ValueError(f"Target index {index} is outside 0..{len(label_names) - 1}.")
    return index


def baseline_embeddings(model, tokenizer, encoded: EncodedText, baseline: str) -> torch.Tensor:
    """[CLS] + filler + [SEP] in the embedding space: the filler is [PAD], [MASK] or the zero
    vector; the special tokens stay, so only the words are taken away."""
    embed = model.get_input_embeddings()
    special = torch.tensor(encoded.special, device=encoded.ids.device)
    with torch.no_grad():
        text = embed(encoded.ids)
        if baseline == "zero":
            return torch.where(special.view(1, -1, 1), text, torch.zeros_like(text))
        filler = {"pad": tokenizer.pad_token_id, "mask": tokenizer.mask_token_id}[baseline]
        ids = torch.where(special, encoded.ids[0], torch.full_like(encoded.ids[0], filler))
        return embed(ids.unsqueeze(0))


@dataclass
class Endpoints:
    """The two ends of the path from baseline to text, with the target's probability at each:
    what Integrated Gradients, its per-layer form and the sampling methods start from."""

    started: float
    encoded: EncodedText
    target: int
    probability: float
    baseline_probability: float
    forward: Callable  # f(embeddings, mask) -> the target's probability per row
    inputs: torch.Tensor  # the text's word embeddings
    start: torch.Tensor  # the baseline's
    scan: list[tuple[float, float]] = field(default_factory=list)  # (alpha, f) along the path

    @property
    def change(self) -> float:
        return self.probability - self.baseline_probability

    def at(self, points: torch.Tensor) -> torch.Tensor:
        """f at a batch of points in the embedding space (the text's mask for each)."""
        return self.forward(points, self.encoded.mask.expand(len(points), -1))


def endpoints(
    model,
    tokenizer,
    text: str,
    *,
    problem_type: str,
    label_names: list[str],
    target: int | str | None,
    max_length: int,
    baseline: str,
    scan_intervals: int = 0,
) -> Endpoints:
    """Encode, embed the text and its baseline, and read both probabilities in one forward pass;
    with `scan_intervals`, also f at the inner ends of that many equal intervals of the straight
    path between them (the rows cost little in a pass that reads every weight anyway)."""
    if baseline not in BASELINES:
        raise ValueError(f"Unknown baseline '{baseline}'; choose one of {BASELINES}.")
    started = time.perf_counter()
    model.eval()
    encoded = encode(tokenizer, text, max_length, device_of(model))
    inner = torch.linspace(0, 1, scan_intervals + 1)[1:-1].tolist() if scan_intervals else []
    with torch.no_grad(), cls_only_in_eval(model):
        inputs = model.get_input_embeddings()(encoded.ids)
        start = baseline_embeddings(model, tokenizer, encoded, baseline)
        alphas = torch.tensor(inner, dtype=inputs.dtype, device=inputs.device).view(-1, 1, 1)
        rows = torch.cat([inputs, start, start + alphas * (inputs - start)])
        mask = encoded.mask.expand(len(rows), -1)
        probabilities = heads.probabilities(
            problem_type, model(inputs_embeds=rows, attention_mask=mask).logits
        )
    index = choose_target(probabilities[0], label_names, target)
    f = probabilities[:, index].float().tolist()
    return Endpoints(
        started=started,
        encoded=encoded,
        target=index,
        probability=f[0],
        baseline_probability=f[1],
        forward=probability_of(model, problem_type, index),
        inputs=inputs,
        start=start,
        scan=[(0.0, f[1]), *zip(inner, f[2:], strict=True), (1.0, f[0])] if inner else [],
    )


def begin(
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
    encoded = encode(tokenizer, text, max_length, device_of(model))
    index, probability = resolve_target(model, encoded, problem_type, label_names, target)
    return started, encoded, index, probability


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


def build_explanation(
    method: str, encoded: EncodedText, attributions: torch.Tensor, label_names: list[str], **fields
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
