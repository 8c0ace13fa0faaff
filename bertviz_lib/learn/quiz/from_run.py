"""Questions about the learner's own run, with answers computed from the run's files.

A question about "your model" teaches more than one about a textbook model, but only if its
answer is right for this run: every answer here is computed from predictions.csv, config.json,
metrics.jsonl or the saved model, and every solution cites the numbers it came from.

Each generator returns a `Question` or None when it does not apply (no predictions yet, a
multi-label run for a confusion-matrix question, ties that leave no single right answer), so a
binary, single-label or multi-label run gives what it can and never raises.

Prompts quote validation texts and label names, which are user data: escape them before
putting them into HTML (render.py does).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from bertviz_lib.learn.quiz.bank import LiveLink, Question
from bertviz_lib.metrics import classification_metrics
from bertviz_lib.runs import Run, RunError, predictions

LR_LOW, LR_HIGH = 1e-5, 1e-4  # the usual range of peak learning rates for fine-tuning
SAME_RECALL = "All classes have the same recall"
NO_MISTAKES = "It made no mistakes on the validation set"
MIN_WORDS, MAX_WORDS = 3, 25  # validation sentences short enough to read in a question
SENTENCE_TRIES = 3  # sentences tried before the top-word question gives up
TOP_TOKEN_METHOD = "gradient_x_input"  # one backward pass: cheap enough to run on page load
TOP_WORD_LEAD = 1.5  # the top word's attribution must be this many times the second's
MIN_CONTENT_WORDS = 3  # content words a sentence needs for a four-way top-word question
WORD_PATTERN = re.compile(r"^[a-z0-9][a-z0-9'-]*$", re.IGNORECASE)  # a word, not punctuation


@dataclass
class RunFacts:
    """What the generators read from one run, loaded once and shared."""

    run: Run
    seed: int = 0
    predictor: object | None = None

    @cached_property
    def label_names(self) -> list[str]:
        return [str(n) for n in self.run.config.get("label_names", [])]

    @cached_property
    def problem_type(self) -> str:
        return str(self.run.config.get("problem_type", ""))

    @cached_property
    def train(self) -> dict:
        return self.run.config.get("train", {}) or {}

    @cached_property
    def table(self):
        return self.run.predictions()

    @cached_property
    def scores(self) -> dict | None:
        """metrics.classification_metrics on predictions.csv, or None when it cannot be read."""
        if self.table is None or len(self.table) == 0 or len(self.label_names) < 2:
            return None
        threshold = float(self.train.get("threshold", 0.5))
        try:
            truth, probabilities = predictions.arrays(
                self.table, self.label_names, self.problem_type
            )
            return classification_metrics(
                truth, probabilities, self.label_names, self.problem_type, threshold
            )
        except ValueError:  # a file edited by hand, or probabilities that do not add up
            return None

    def rng(self, name: str) -> random.Random:
        """A generator's own seeded randomness, so reruns of a page show the same question."""
        return random.Random(f"{self.seed}:{self.run.run_id}:{name}")

    def loaded_predictor(self):
        if self.predictor is None:
            from bertviz_lib.model.predict import Predictor

            try:
                self.predictor = Predictor.from_run(self.run, device="cpu")
            except (RunError, OSError, ValueError):
                return None  # no loadable model: the questions that need one are skipped
        return self.predictor


def questions_from_run(run: Run, predictor=None, seed: int = 0) -> list[Question]:
    """Every run-derived question that applies to `run`: usually four to six of them.

    A completed single-label or binary run gets all six; a multi-label run skips the two
    confusion-matrix questions; a run without predictions.csv or a model gets only the questions
    about its settings (learning rate, warm-up).

    `predictor` is the run's loaded `Predictor` if the page already has one (it is loaded on the
    CPU otherwise); `seed` varies the distractors and the sentence chosen.
    """
    facts = RunFacts(run, seed, predictor)
    questions = [make(facts) for make in GENERATORS]
    return [q for q in questions if q is not None]


def scientific(value: float) -> str:
    """A learning rate the way people write it: 3e-5, 2.5e-4 (not 3e-05 or 0.00025)."""
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _question(facts: RunFacts, name: str, **fields) -> Question:
    defaults = dict(difficulty="medium", level="intermediate", kind="multiple_choice", origin="run")
    question = Question(id=f"run-{facts.run.run_id}-{name}", **{**defaults, **fields})
    if not question.feedback:  # every option still says why it is right or wrong
        why = {question.answer: "Right: see the steps below, computed from this run's files."}
        feedback = tuple(why.get(o, "Not this one: see the steps below.") for o in question.options)
        question = replace(question, feedback=feedback)
    return question


def _shuffled(rng: random.Random, items: list[str]) -> list[str]:
    items = list(items)
    rng.shuffle(items)
    return items


def lowest_recall(facts: RunFacts) -> Question | None:
    """Which class the model finds least often; a tie for lowest between some classes skips."""
    if facts.scores is None:
        return None
    present = [c for c in facts.scores["per_class"] if c["support"] > 0]
    if len(present) < 2:
        return None
    low = min(c["recall"] for c in present)
    lowest = [c for c in present if math.isclose(c["recall"], low, abs_tol=1e-9)]
    if 1 < len(lowest) < len(present):
        return None
    answer = SAME_RECALL if len(lowest) == len(present) else lowest[0]["label"]
    rng = facts.rng("lowest_recall")
    others = [c["label"] for c in present if c["label"] != answer]
    labels = [answer] if answer != SAME_RECALL else []
    labels += rng.sample(others, min(3 - len(labels), len(others)))
    lines = [
        f"{c['label']}: {round(c['recall'] * c['support'])} of {c['support']} found, "
        f"recall {c['recall']:.2f}"
        for c in present
    ]
    verdict = (
        f"Every class has recall {low:.2f}, so none is found less often than the others."
        if answer == SAME_RECALL
        else f"The lowest is '{answer}' at {low:.2f}."
    )
    return _question(
        facts,
        "lowest-recall",
        topic="evaluation",
        concepts=("metrics",),
        prompt=f"On the validation set of run '{facts.run.run_id}', which class has the lowest "
        "recall, that is, the smallest share of its true examples that the model labelled "
        "correctly?",
        options=(*_shuffled(rng, labels), SAME_RECALL),
        answer=answer,
        solution=(
            "Recall of a class = validation examples of that class the model labelled with it, "
            "divided by all validation examples of that class (predictions.csv).",
            "Per class: " + "; ".join(lines) + ".",
            verdict,
        ),
        hint="Recall looks along one row of the confusion matrix: the true examples of a class.",
        mistakes=(
            "Answering with the class of lowest precision, which divides by predictions instead.",
            "Picking the smallest class: a rare class can still be found every time.",
        ),
        live=LiveLink("app_pages/metrics.py", "Per-class scores on the Metrics page"),
    )


def top_token(facts: RunFacts) -> Question | None:
    """Which word of a short validation sentence pushes the predicted class up the most."""
    if facts.table is None or len(facts.table) == 0:
        return None
    predictor = facts.loaded_predictor()
    if predictor is None:
        return None
    rng = facts.rng("top_token")
    texts = [t for t in facts.table["text"] if MIN_WORDS <= len(str(t).split()) <= MAX_WORDS]
    for text in rng.sample(texts, min(SENTENCE_TRIES, len(texts))):
        question = _top_token_question(facts, predictor, str(text), rng)
        if question is not None:
            return question
    return None


def content_word(word: str) -> bool:
    """A word worth asking about: not punctuation, a number or a stop word like 'the'."""
    return (
        bool(WORD_PATTERN.match(word))
        and not word.isdigit()
        and (word.lower() not in ENGLISH_STOP_WORDS)
    )


def _top_token_question(facts: RunFacts, predictor, text: str, rng) -> Question | None:
    from bertviz_lib.explain import explain

    explanation = explain(predictor, text, TOP_TOKEN_METHOD)
    best: dict[str, float] = {}
    for word, value in zip(explanation.words, explanation.word_attributions, strict=True):
        if content_word(word):
            best[word] = max(value, best.get(word, -math.inf))
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) < MIN_CONTENT_WORDS or ranked[0][1] <= 0:
        return None  # too few content words, or none pushes the prediction up
    (word, value), (second, second_value) = ranked[0], ranked[1]
    if value < TOP_WORD_LEAD * max(second_value, 0.0) or value - second_value < 1e-9:
        return None  # no clear winner: two defensible answers
    others = [w for w, _ in ranked[1:]]
    options = [word, *rng.sample(others, min(3, len(others)))]
    return _question(
        facts,
        "top-token",
        topic="explanations",
        concepts=("attention_vs_attribution",),
        prompt=f"Your model predicts '{explanation.label}' "
        f'({explanation.target_probability:.0%}) for the validation sentence "{text}". '
        "According to gradient × input, which content word pushes that probability up the "
        "most (largest positive attribution; stop words and punctuation left out)?",
        options=tuple(_shuffled(rng, options)),
        answer=word,
        solution=(
            "Gradient × input multiplies each word's embedding by the gradient of the predicted "
            f"probability of '{explanation.label}' and sums over the embedding dimensions "
            "(word pieces of one word are added together).",
            f"Among the content words, '{word}' gets {value:+.3g}, the largest; next is "
            f"'{second}' with {second_value:+.3g}, well behind.",
            "A large attribution means the probability is sensitive to that word here; another "
            "method (Integrated Gradients, occlusion) can rank the words differently, and the "
            "attention map answers a different question.",
        ),
        hint="Which word of the sentence is the strongest clue for the predicted label?",
        mistakes=(
            "Assuming the longest or rarest word matters most.",
            "Reading the attention map instead of the attributions.",
        ),
        live=LiveLink("app_pages/explain.py", "Explain this sentence on the Explain page"),
    )


def learning_rate(facts: RunFacts) -> Question | None:
    """Whether the run's peak learning rate sits in the usual fine-tuning range."""
    value = facts.train.get("learning_rate")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    below = "Below the usual range: the weights barely move, so the task is learned slowly"
    inside = "Inside the usual range for fine-tuning a pre-trained encoder"
    above = "Above the usual range: steps this large can wreck pre-training, or diverge"
    unused = "The learning rate makes no difference once the model is pre-trained"
    answer = below if value < LR_LOW else above if value > LR_HIGH else inside
    rate, low, high = scientific(value), scientific(LR_LOW), scientific(LR_HIGH)
    where = {
        below: f"{rate} is {LR_LOW / value:.3g} times smaller than the bottom of the range.",
        inside: f"{rate} lies between {low} and {high}.",
        above: f"{rate} is {value / LR_HIGH:.3g} times the top of the range.",
    }[answer]
    wrong = "Not for this rate: compare it with the range in the steps below."
    feedback = {o: (f"Right: {where}" if o == answer else wrong) for o in (below, inside, above)}
    feedback[unused] = "It matters a great deal: too small learns nothing, too large diverges."
    return _question(
        facts,
        "learning-rate",
        topic="training",
        concepts=("fine_tuning",),
        prompt=f"Run '{facts.run.run_id}' used a peak learning rate of {rate}. Where does that "
        "sit against the learning rates usually used to fine-tune a pre-trained BERT?",
        options=tuple(feedback),
        feedback=tuple(feedback.values()),
        answer=answer,
        solution=(
            f"The run's config.json records train.learning_rate = {rate}.",
            f"Fine-tuning usually uses a peak learning rate of about {low} to {high}: the BERT "
            "authors used 2e-5 to 5e-5, and small encoders such as MiniLM often go up to 1e-4.",
            where,
        ),
        hint="Fine-tuning adjusts weights that are already good; think about how big a nudge "
        "that needs.",
        mistakes=(
            "Using a from-scratch learning rate such as 1e-3 for a pre-trained encoder.",
            "Thinking any learning rate works as long as there are enough epochs.",
        ),
        live=LiveLink("app_pages/train.py", "The learning-rate setting on the Train page"),
    )


def _confusion(facts: RunFacts) -> np.ndarray | None:
    if facts.problem_type == "multi_label" or facts.scores is None:
        return None
    return np.asarray(facts.scores["confusion_matrix"], dtype=int)


def most_confused(facts: RunFacts) -> Question | None:
    """Which true class -> predicted class mistake is the most frequent (ties skip)."""
    matrix = _confusion(facts)
    if matrix is None:
        return None
    names = facts.label_names
    cells = [(int(matrix[i, j]), i, j) for i in range(len(names)) for j in range(len(names))
             if i != j]  # fmt: skip
    cells.sort(reverse=True)
    top = cells[0][0]
    if top > 0 and len(cells) > 1 and cells[1][0] == top:
        return None
    rng = facts.rng("most_confused")

    def pair(i: int, j: int) -> str:
        return f"true '{names[i]}' predicted as '{names[j]}'"

    answer = pair(cells[0][1], cells[0][2]) if top > 0 else NO_MISTAKES
    others = [pair(i, j) for _, i, j in cells if pair(i, j) != answer]
    pairs = ([answer] if top > 0 else []) + rng.sample(others, min(2, len(others)))
    counts = ", ".join(f"{pair(i, j)}: {n}" for n, i, j in cells if n > 0) or "all zero"
    return _question(
        facts,
        "most-confused",
        topic="evaluation",
        concepts=("confusion_matrix",),
        prompt=f"Which mistake did run '{facts.run.run_id}' make most often on its validation set?",
        options=(*_shuffled(rng, pairs), NO_MISTAKES),
        answer=answer,
        solution=(
            "In the confusion matrix rows are true classes and columns predicted classes; the "
            "cells off the diagonal are the mistakes.",
            f"Off-diagonal counts: {counts}.",
            f"The largest is {answer}." if top > 0 else "Every off-diagonal cell is 0.",
        ),
        hint="Ignore the diagonal: it counts the right answers.",
        mistakes=(
            "Swapping rows and columns, which turns 'A predicted as B' into 'B predicted as A'.",
            "Reading the largest cell overall, which is usually a correct (diagonal) one.",
        ),
        live=LiveLink("app_pages/metrics.py", "The confusion matrix on the Metrics page"),
    )


def confusion_count(facts: RunFacts) -> Question | None:
    """How many validation examples of one class were predicted as another (or as itself)."""
    matrix = _confusion(facts)
    if matrix is None:
        return None
    names = facts.label_names
    off = matrix - np.diag(np.diag(matrix))
    if off.max() > 0:
        i, j = (int(x) for x in np.unravel_index(int(off.argmax()), off.shape))
    else:
        i = j = int(matrix.sum(axis=1).argmax())
    count, row_total = int(matrix[i, j]), int(matrix[i].sum())
    rng = facts.rng("confusion_count")
    candidates = [int(matrix[j, i]), row_total, count + 1, count + 2, count - 1, count + 3]
    distractors = list(dict.fromkeys(c for c in candidates if c >= 0 and c != count))[:3]
    rng.shuffle(distractors)
    options = tuple(str(n) for n in sorted([count, *distractors]))
    return _question(
        facts,
        "confusion-count",
        topic="evaluation",
        concepts=("confusion_matrix",),
        prompt=f"Of the validation examples of run '{facts.run.run_id}' whose true class is "
        f"'{names[i]}', how many did the model predict as '{names[j]}'?",
        options=options,
        answer=str(count),
        solution=(
            f"Find row '{names[i]}' (true class) and column '{names[j]}' (predicted class) of the "
            "confusion matrix.",
            f"That cell holds {count}, out of {row_total} validation examples of '{names[i]}'.",
            f"The mirror cell (true '{names[j]}', predicted '{names[i]}') holds "
            f"{int(matrix[j, i])}: a different mistake."
            if i != j
            else "It is on the diagonal: these are the examples of the class predicted right.",
        ),
        hint="Rows are what the example really is; columns are what the model said.",
        mistakes=(
            "Reading the column as the true class.",
            "Giving the row total, which counts every example of the class.",
        ),
        live=LiveLink("app_pages/metrics.py", "The confusion matrix on the Metrics page"),
    )


def warmup_steps(facts: RunFacts) -> Question | None:
    """How many warm-up steps the run's schedule had: int(warmup_ratio × total steps)."""
    ratio = facts.train.get("warmup_ratio")
    start = next((e for e in facts.run.events() if e.get("event") == "start"), None)
    if not isinstance(ratio, int | float) or start is None or not start.get("total_steps"):
        return None
    total = int(start["total_steps"])
    warm = int(ratio * total)
    epochs = int(facts.train.get("epochs") or 1)
    per_epoch = math.ceil(total / max(epochs, 1))
    peak_rate = facts.train.get("learning_rate")
    peak_text = f" ({scientific(peak_rate)})" if isinstance(peak_rate, int | float) else ""
    reasons = {
        int(ratio * per_epoch): "That is the ratio of one epoch's steps; it applies to all steps.",
        total - warm: "Those are the steps after warm-up, while the rate falls.",
        per_epoch: "That is one epoch's steps.",
        total: "That is every step of the run.",
        warm * 2 + 2: "Twice the warm-up and more: the ratio gives the warm-up directly.",
    }
    # A distractor one step from the answer would be defensible (rounding, counting from 0 or 1).
    distractors = [n for n in reasons if n >= 0 and abs(n - warm) > 1][:3]
    if len(distractors) < 2:
        return None
    peak = max((e.get("learning_rate", 0.0) for e in facts.run.events()
                if e.get("event") == "step"), default=None)  # fmt: skip
    logged = (
        f" The highest learning rate logged in metrics.jsonl is {scientific(peak)}." if peak else ""
    )
    options = sorted([warm, *distractors])
    feedback = tuple(
        f"Right: int({ratio:g} × {total}) = {warm}." if n == warm else reasons[n] for n in options
    )
    return _question(
        facts,
        "warmup-steps",
        topic="training",
        concepts=("warmup", "batch_epochs"),
        prompt=f"Run '{facts.run.run_id}' planned {total} optimisation steps ({epochs} epochs) "
        f"with warmup_ratio {ratio:g}. How many warm-up steps did its learning-rate schedule "
        "have?",
        options=tuple(str(n) for n in options),
        feedback=feedback,
        answer=str(warm),
        solution=(
            "The warm-up lasts warmup_ratio × total steps, rounded down: "
            f"int({ratio:g} × {total}) = {warm}.",
            f"During those steps the learning rate rises linearly to its peak{peak_text} (step k "
            f"uses (k + 1) / {max(warm, 1)} of it); afterwards it falls linearly towards 0."
            + logged,
        ),
        hint="The ratio is a share of all steps of the run, not of one epoch.",
        mistakes=(
            "Taking the ratio of one epoch's steps instead of all steps.",
            "Thinking warm-up is counted in epochs.",
        ),
        live=LiveLink("app_pages/metrics.py", "The learning-rate chart on the Metrics page"),
    )


GENERATORS: tuple[Callable[[RunFacts], Question | None], ...] = (
    lowest_recall,
    top_token,
    learning_rate,
    most_confused,
    confusion_count,
    warmup_steps,
)
