"""Live lessons for the Learn page: every number shown is computed on a real tokenizer or model.

Three things live here:
- `tokenization`: what the tokenizer hands BERT for a typed sentence ([CLS], word pieces, [SEP],
  [PAD], the attention mask, truncation), next to what naive `text.split()` would give.
- `cls_to_decision`: the path from the [CLS] output vector to logits, to sigmoid and softmax
  probabilities, to the argmax, on a Run's model or on the bundled encoder with a fresh head.
- `run_snippet`: the code-reading questions' snippets, run for real. They are a fixed registry
  of this module's own functions; nothing a user types is ever executed.

Every lesson also returns the code that computed it (the source of the function that did the
work), so the page never shows one thing and computes another.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch

from bertviz_lib.metrics import prediction_ids

SPECIAL_KINDS = {
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "mask_token": "[MASK]",
}
WORD_PIECE = "word piece"
UNKNOWN = "[UNK]"


def source_of(function: Callable) -> str:
    """The exact source of one of this module's functions, as the page displays it."""
    return textwrap.dedent(inspect.getsource(function)).strip("\n")


# --- Tokenization -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    """One position of the model's input."""

    position: int
    token: str
    id: int
    kind: str  # "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]" or "word piece"
    attention_mask: int
    continues_word: bool  # a "##" piece glued to the piece before it


@dataclass(frozen=True)
class Tokenization:
    """A sentence as BERT receives it, with the naive whitespace split for comparison."""

    text: str
    max_length: int
    rows: list[TokenRow]
    truncated: bool
    total_tokens: int  # [CLS] and [SEP] included, before truncation
    naive_words: list[str]
    naive_in_vocabulary: list[bool]  # would the word, as split, be a single vocabulary entry?
    code: str

    @property
    def real_tokens(self) -> int:
        """Positions the model attends to (attention mask 1)."""
        return sum(row.attention_mask for row in self.rows)

    @property
    def padding(self) -> int:
        return len(self.rows) - self.real_tokens


def encode_padded(tokenizer, text: str, max_length: int) -> tuple[list[int], list[int], list[str]]:
    """Ids, attention mask and tokens, padded and cut to exactly max_length positions."""
    encoded = tokenizer(text, padding="max_length", truncation=True, max_length=max_length)
    ids = encoded["input_ids"]
    return ids, encoded["attention_mask"], tokenizer.convert_ids_to_tokens(ids)


def tokenization(tokenizer, text: str, max_length: int = 16) -> Tokenization:
    """Tokenize `text` padded (and cut) to exactly `max_length` positions, row by row.

    Naive splitting is shown because it is the usual first attempt: its words keep their case
    and punctuation, so most are missing from an uncased WordPiece vocabulary, and it adds no
    [CLS], [SEP], padding or mask.
    """
    if max_length < 2:
        raise ValueError("max_length must leave room for [CLS] and [SEP] (at least 2).")
    ids, mask, tokens = encode_padded(tokenizer, text, max_length)
    total = len(tokenizer(text, truncation=False, verbose=False)["input_ids"])
    kinds = _special_kinds(tokenizer)
    rows = [
        TokenRow(
            i, token, int(token_id), kinds.get(token, WORD_PIECE), int(m), token.startswith("##")
        )  # fmt: skip
        for i, (token, token_id, m) in enumerate(zip(tokens, ids, mask, strict=True))
    ]
    words = text.split()
    vocabulary = tokenizer.get_vocab()
    return Tokenization(
        text=text,
        max_length=max_length,
        rows=rows,
        truncated=total > max_length,
        total_tokens=total,
        naive_words=words,
        naive_in_vocabulary=[word in vocabulary for word in words],
        code=source_of(encode_padded),
    )


def _special_kinds(tokenizer) -> dict[str, str]:
    kinds = {getattr(tokenizer, name): label for name, label in SPECIAL_KINDS.items()}
    kinds[tokenizer.unk_token] = UNKNOWN
    kinds.pop(None, None)
    return kinds


# --- From [CLS] to a decision -------------------------------------------------------------


@dataclass(frozen=True)
class ClsDecision:
    """One sentence's way from the [CLS] output vector to the predicted class."""

    text: str
    tokens: list[str]
    cls_vector: list[float]  # last layer's output at position 0, the [CLS] token
    logits: list[float]
    sigmoid: list[float]  # each logit squashed on its own
    softmax: list[float]  # the logits made to compete; sums to 1 ([1.0] for a one-logit head)
    argmax: int | None  # the largest logit's index; None for one logit, where it decides nothing
    label_names: list[str]
    problem_type: str
    decision: list[str]  # what the model predicts under its own head's rule
    head_logits: list[float] | None  # the logits recomputed by hand from the [CLS] vector
    code: str
    threshold: float = 0.5  # the probability a sigmoid output must reach to say yes

    @property
    def rule(self) -> str:
        """The decision rule of this head, with this text's numbers, in one line.

        It is the rule `metrics.prediction_ids` applies on every page: the argmax for a softmax
        head, the run's threshold for sigmoid heads (binary and multi-label).
        """
        if self.problem_type == "binary" and len(self.sigmoid) == 1:
            probability = self.sigmoid[0]
            verdict = "reaches" if probability >= self.threshold else "is under"
            return (
                f"P({self.label_names[1]}) = sigmoid({self.logits[0]:+.3f}) = {probability:.3f}, "
                f"which {verdict} the threshold {self.threshold:g}"
            )
        if self.problem_type == "multi_label":
            return f"every label whose sigmoid reaches the threshold {self.threshold:g}"
        return f"argmax over the classes: index {self.argmax}"


def forward_with_cls(model, tokenizer, text: str, max_length: int = 128):
    """One forward pass that keeps the hidden states, so the [CLS] vector can be read out."""
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    encoded = encoded.to(model.device)
    with torch.no_grad():
        outputs = model(**encoded, output_hidden_states=True)
    last_layer = outputs.hidden_states[-1]  # (batch, tokens, hidden)
    cls_vector = last_layer[0, 0]  # first sentence, position 0: the [CLS] token
    logits = outputs.logits[0]  # one raw score per output of the head
    sigmoid = torch.sigmoid(logits)  # each logit on its own: binary and multi-label heads
    softmax = torch.softmax(logits, dim=-1)  # across the logits: one class out of several
    predicted = int(torch.argmax(logits, dim=-1))  # same index as the argmax of softmax
    return encoded, last_layer, cls_vector, logits, sigmoid, softmax, predicted


def bert_head_by_hand(model, last_layer):
    """BertForSequenceClassification's head applied by hand: pooler, dropout, linear layer."""
    pooled = model.bert.pooler(last_layer)  # tanh(dense(last_layer[:, 0])): reads only [CLS]
    return model.classifier(model.dropout(pooled))[0]  # dropout does nothing in eval mode


def cls_decision_code() -> str:
    """The code that `cls_to_decision` runs, for the page to show beside the numbers."""
    return source_of(forward_with_cls) + "\n\n\n" + source_of(bert_head_by_hand)


def cls_to_decision(
    model,
    tokenizer,
    text: str,
    label_names: list[str] | None = None,
    problem_type: str = "single_label",
    threshold: float = 0.5,
    max_length: int = 128,
) -> ClsDecision:
    """Follow one sentence from the [CLS] vector to the decision, on any HF sequence classifier.

    For a Run pass `predictor.model`, `predictor.tokenizer`, `predictor.label_names`,
    `predictor.problem_type` and `predictor.threshold`; for a quick demo use `demo_classifier`.
    Decisions follow the head: single_label takes the argmax, binary (one logit) says positive
    when its sigmoid reaches the threshold, multi_label keeps every label whose sigmoid does.
    For BERT models the logits are also recomputed from the last layer through the pooler and
    the linear classifier, to show that the head reads nothing but the [CLS] position.
    """
    model.eval()
    _, last_layer, cls_vector, logits, sigmoid, softmax, predicted = forward_with_cls(
        model, tokenizer, text, max_length
    )
    names = list(label_names or _label_names(model))
    by_hand = None
    if _is_bert_classifier(model):
        with torch.no_grad():
            by_hand = bert_head_by_hand(model, last_layer)
    tokens = tokenizer.convert_ids_to_tokens(
        tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
    )
    one_logit = len(_floats(logits)) == 1
    return ClsDecision(
        text=text,
        tokens=tokens,
        cls_vector=_floats(cls_vector),
        logits=_floats(logits),
        sigmoid=_floats(sigmoid),
        softmax=_floats(softmax),
        argmax=None if one_logit else predicted,
        label_names=names,
        problem_type=problem_type,
        decision=_decision(problem_type, names, _floats(sigmoid), _floats(softmax), threshold),
        head_logits=None if by_hand is None else _floats(by_hand),
        code=cls_decision_code(),
        threshold=threshold,
    )


def _decision(
    problem_type: str, names: list[str], sigmoid: list[float], softmax: list[float], threshold
) -> list[str]:
    """The decision by `metrics.prediction_ids`, the one rule Predict and Metrics use too."""
    if problem_type == "binary" and len(sigmoid) == 1:
        decided = prediction_ids([[1.0 - sigmoid[0], sigmoid[0]]], "binary", threshold)
        return [names[int(decided[0])]]
    if problem_type == "multi_label":
        row = prediction_ids([sigmoid], "multi_label", threshold)[0]
        return [name for name, chosen in zip(names, row, strict=True) if chosen]
    return [names[int(prediction_ids([softmax], "single_label")[0])]]


def _label_names(model) -> list[str]:
    config = model.config
    names = getattr(config, "bertviz_label_names", None)
    return list(names or [config.id2label[i] for i in range(config.num_labels)])


def _is_bert_classifier(model) -> bool:
    bert = getattr(model, "bert", None)
    return (
        bert is not None
        and getattr(bert, "pooler", None) is not None
        and isinstance(getattr(model, "classifier", None), torch.nn.Linear)
    )


def _floats(tensor: torch.Tensor) -> list[float]:
    return [float(x) for x in tensor.detach().float().cpu().reshape(-1)]


def demo_classifier(backbone: str = "bundled", num_labels: int = 2, seed: int = 0):
    """The backbone with a freshly initialised head (seeded) and its tokenizer, in eval mode.

    The head is untrained, so its decisions mean nothing; what the lesson shows is the
    arithmetic from [CLS] to the decision, which is the same before and after fine-tuning.
    Label names are "class 0", "class 1", ...
    """
    from bertviz_lib.model.backbones import load_classifier, load_config, load_tokenizer

    names = {i: f"class {i}" for i in range(num_labels)}
    config = load_config(
        backbone, num_labels=num_labels, id2label=names, label2id={v: k for k, v in names.items()}
    )
    torch.manual_seed(seed)
    model = load_classifier(backbone, config)
    model.eval()
    return model, load_tokenizer(backbone)


# --- Context from both sides -------------------------------------------------------------
@dataclass(frozen=True)
class ContextShift:
    """One word read in two sentences: the same input vector, two different output vectors."""

    word: str
    first: str
    second: str
    input_similarity: float  # cosine of the word's embedding-table vectors: 1.0, same token
    output_similarity: float  # cosine of the last layer's vectors at the word's position
    code: str


def word_vectors(model, tokenizer, text: str, word: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The word's first piece: its row of the embedding table, and the last layer's output."""
    encoded = tokenizer(text, return_tensors="pt").to(model.device)
    piece = tokenizer.tokenize(word)[0]
    position = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]).index(piece)
    with torch.no_grad():
        outputs = model(**encoded, output_hidden_states=True)
    token_id = encoded["input_ids"][0, position]
    table = model.get_input_embeddings().weight.detach()
    return table[token_id], outputs.hidden_states[-1][0, position]


def context_shift(model, tokenizer, first: str, second: str, word: str) -> ContextShift:
    """Why reading both directions matters: edit only the words AFTER `word`, and its output
    vector changes; a left-to-right model would give it the same vector both times."""
    model.eval()
    (in_a, out_a), (in_b, out_b) = (
        word_vectors(model, tokenizer, t, word) for t in (first, second)
    )
    cosine = torch.nn.functional.cosine_similarity
    return ContextShift(
        word=word,
        first=first,
        second=second,
        input_similarity=float(cosine(in_a, in_b, dim=0)),
        output_similarity=float(cosine(out_a, out_b, dim=0)),
        code=source_of(word_vectors),
    )


# --- Runnable snippets for the code-reading questions -------------------------------------
# Each snippet takes `print` as an argument so that its output is collected per call, without
# redirecting the process-wide stdout that other sessions of the app share. The page shows the
# body of the function (`snippet_source`), which is exactly what runs.


def _argmax_rows(print):
    import torch

    logits = torch.tensor([[0.2, 1.9, -0.4], [2.5, 0.1, 0.3]])  # 2 texts, 3 classes
    print(logits.argmax(dim=1))


def _argmax_columns(print):
    import torch

    logits = torch.tensor([[0.2, 1.9, -0.4], [2.5, 0.1, 0.3]])  # 2 texts, 3 classes
    print(logits.argmax(dim=0))


def _softmax_versus_sigmoid(print):
    import torch

    logits = torch.tensor([1.0, 1.0])
    print(torch.softmax(logits, dim=-1), torch.sigmoid(logits))


def _special_token_ids(print, tokenizer):
    encoded = tokenizer("the plot was thin")
    print(encoded["input_ids"][0], encoded["input_ids"][-1])


def _padding_and_mask(print, tokenizer):
    encoded = tokenizer("Great film", padding="max_length", max_length=6)
    print(encoded["input_ids"], encoded["attention_mask"])


def _truncation_keeps_sep(print, tokenizer):
    encoded = tokenizer("one two three four five six", truncation=True, max_length=5)
    print(tokenizer.convert_ids_to_tokens(encoded["input_ids"]))


def _split_versus_wordpiece(print, tokenizer):
    text = "Tokenizers aren't whitespace."
    print(len(text.split()), len(tokenizer.tokenize(text)))


def _no_labels_no_loss(print, tokenizer, model):
    import torch

    batch = tokenizer(["a fine film"], return_tensors="pt")
    without = model(**batch)
    with_labels = model(**batch, labels=torch.tensor([1]))
    print(without.loss is None, with_labels.loss is None)


def _precision_recall_f1(print):
    tp, fp, fn = 6, 2, 4
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    print(round(precision, 2), round(recall, 2), round(f1, 2))


def _mse_on_class_ids(print):
    true = [0, 2]  # 0 = cat, 1 = dog, 2 = fox
    guess_a = [1, 1]  # both wrong
    guess_b = [0, 0]  # one right

    def mse(guess):
        return sum((t - g) ** 2 for t, g in zip(true, guess, strict=True)) / len(true)

    def accuracy(guess):
        return sum(t == g for t, g in zip(true, guess, strict=True)) / len(true)

    print(mse(guess_a), mse(guess_b), accuracy(guess_a), accuracy(guess_b))


def _confusion_cell(print):
    from sklearn.metrics import confusion_matrix

    true = ["cat", "cat", "dog", "dog", "dog", "fox"]
    predicted = ["cat", "dog", "cat", "cat", "dog", "fox"]
    matrix = confusion_matrix(true, predicted, labels=["cat", "dog", "fox"])
    print(matrix[1, 0])


def _warmup_schedule(print):
    import torch

    from bertviz_lib.train.optimizer import warmup_then_linear

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([weight], lr=1e-4)
    scheduler = warmup_then_linear(optimizer, warmup_steps=2, total_steps=6)
    rates = []
    for _ in range(6):
        rates.append(round(optimizer.param_groups[0]["lr"] / 1e-4, 2))
        optimizer.step()
        scheduler.step()
    print(rates)


def _integrated_gradients_completeness(print):
    import torch
    from captum.attr import IntegratedGradients

    def f(x):
        return (x**2).sum(dim=1)  # f([1, 2]) = 5, f([0, 0]) = 0

    ig = IntegratedGradients(f)
    attributions = ig.attribute(torch.tensor([[1.0, 2.0]]), baselines=torch.zeros(1, 2))
    print(round(float(attributions.sum()), 2))


@dataclass(frozen=True)
class Snippet:
    """A named, runnable piece of the project's own code used by a code-reading question."""

    name: str
    function: Callable
    needs: tuple[str, ...]  # besides print: "tokenizer", "model"

    @property
    def source(self) -> str:
        return snippet_source(self.name)


def _snippet(name: str, function: Callable) -> Snippet:
    needs = tuple(p for p in inspect.signature(function).parameters if p != "print")
    return Snippet(name, function, needs)


SNIPPETS: dict[str, Snippet] = {
    s.name: s
    for s in (
        _snippet("argmax_rows", _argmax_rows),
        _snippet("argmax_columns", _argmax_columns),
        _snippet("softmax_versus_sigmoid", _softmax_versus_sigmoid),
        _snippet("special_token_ids", _special_token_ids),
        _snippet("padding_and_mask", _padding_and_mask),
        _snippet("truncation_keeps_sep", _truncation_keeps_sep),
        _snippet("split_versus_wordpiece", _split_versus_wordpiece),
        _snippet("no_labels_no_loss", _no_labels_no_loss),
        _snippet("precision_recall_f1", _precision_recall_f1),
        _snippet("mse_on_class_ids", _mse_on_class_ids),
        _snippet("confusion_cell", _confusion_cell),
        _snippet("warmup_schedule", _warmup_schedule),
        _snippet("integrated_gradients_completeness", _integrated_gradients_completeness),
    )
}


@cache
def snippet_source(name: str) -> str:
    """The body of the snippet's function, dedented: the code shown beside the question."""
    function = _known(name).function
    source = textwrap.dedent(inspect.getsource(function))
    body = ast.parse(source).body[0].body
    lines = source.splitlines()
    return textwrap.dedent("\n".join(lines[body[0].lineno - 1 : body[-1].end_lineno])).strip()


@dataclass(frozen=True)
class SnippetRun:
    """What a snippet printed, and the code that printed it."""

    name: str
    source: str
    output: str


def run_snippet(name: str, tokenizer=None, model=None) -> SnippetRun:
    """Run a registered snippet and collect what it prints.

    Snippets that need a tokenizer get the bundled one unless `tokenizer` is given; those that
    need a model get `model` (a classifier with at least two outputs, with its own tokenizer
    passed too), or the bundled encoder with a two-class head (`demo_classifier`, loaded once
    per process). Only names in SNIPPETS run; anything else raises KeyError.
    """
    snippet = _known(name)
    lines: list[str] = []

    def collect(*values) -> None:
        lines.append(" ".join(str(v) for v in values))

    given = {"tokenizer": tokenizer, "model": model}
    if "model" in snippet.needs and model is None:
        given["model"], loaded_tokenizer = _default_demo()
        given["tokenizer"] = tokenizer or loaded_tokenizer
    if "tokenizer" in snippet.needs and given["tokenizer"] is None:
        given["tokenizer"] = _bundled_tokenizer()
    snippet.function(collect, **{key: given[key] for key in snippet.needs})
    return SnippetRun(name, snippet_source(name), "\n".join(lines))


def _known(name: str) -> Snippet:
    if name not in SNIPPETS:
        raise KeyError(f"No snippet named '{name}'; the snippets are {sorted(SNIPPETS)}.")
    return SNIPPETS[name]


@cache
def _default_demo():
    return demo_classifier()


@cache
def _bundled_tokenizer():
    from bertviz_lib.model.backbones import load_tokenizer

    return load_tokenizer("bundled")
