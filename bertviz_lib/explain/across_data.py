"""Which words push the model towards each class across many validation texts, not just one.

A single explanation can be an accident of its sentence; a word that carries a class in dozens of
texts is what the model has learned. Words (WordPiece pieces joined) are pooled per target class
and ranked by their mean attribution, counting only words seen in at least `min_count` texts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bertviz_lib.explain.explanation import Explanation
from bertviz_lib.runs import predictions


@dataclass
class ClassTokens:
    method: str
    examples: int  # texts explained
    top: dict[str, list[tuple[str, float, int]]]  # class -> (word, mean attribution, texts)


def examples_per_class(
    table, label_names: Sequence[str], problem_type: str, per_class: int
) -> list[tuple[str, str]]:
    """Up to `per_class` validation texts for each predicted class, as (text, class) pairs.

    A multi-label text counts for each label predicted for it. The order of the file is kept, so
    the choice is the same every time.
    """
    chosen: list[tuple[str, str]] = []
    predicted = predictions.predicted_labels(table, problem_type)
    for label in label_names:
        texts = table.loc[[label in labels for labels in predicted], predictions.TEXT]
        chosen += [(str(text), label) for text in texts.head(per_class)]
    return chosen


def class_tokens(
    explain_one: Callable[[str, str], Explanation],
    examples: Sequence[tuple[str, str]],
    *,
    top_k: int = 10,
    min_count: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> ClassTokens:
    """Explain each (text, class) towards its class and rank each class's words by mean value.

    `explain_one(text, label)` is any method bound to a model, so the page and the CLI choose it.
    """
    pooled: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    method = ""
    for done, (text, label) in enumerate(examples, start=1):
        explanation = explain_one(text, label)
        method = explanation.method
        in_this_text: dict[str, float] = defaultdict(float)
        for word, value in zip(explanation.words, explanation.word_attributions, strict=True):
            in_this_text[word] += value
        for word, value in in_this_text.items():
            pooled[label][word].append(value)
        if on_progress:
            on_progress(done, len(examples))
    top = {}
    for label, words in pooled.items():
        kept = [(w, float(np.mean(v)), len(v)) for w, v in words.items() if len(v) >= min_count]
        top[label] = sorted(kept, key=lambda row: -row[1])[:top_k]
    return ClassTokens(method, len(examples), top)
