"""The checks that decide whether data is fit to train on: size, classes, balance, duplicates and
conflicting duplicates, train/validation overlap, texts longer than the model reads.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from bertviz_lib.config import MAX_LABELS
from bertviz_lib.data.findings import DataReport
from bertviz_lib.data.labelled import LabelledData, TokenCounter
from bertviz_lib.data.wording import counted, excerpt, has_or_have, percent, quoted

MIN_ROWS = 4


IMBALANCE_RATIO = 3.0


def check_all(
    data: LabelledData,
    held_out: LabelledData | None,
    max_length: int,
    token_counter: TokenCounter | None,
    report: DataReport,
) -> None:
    counts = Counter(label for row in data.labels for label in row)
    _check_size(data, held_out, report)
    _check_classes(counts, data, report)
    _check_balance(counts, report)
    _check_duplicates(data, report)
    if held_out is not None:
        _check_overlap(data, held_out, report)
    texts = data.texts + (held_out.texts if held_out is not None else [])
    _check_lengths(texts, max_length, token_counter, report)


def _check_size(data: LabelledData, held_out: LabelledData | None, report: DataReport) -> None:
    if len(data) < MIN_ROWS:
        report.add(
            "error",
            "too_few_rows",
            f"Only {counted(len(data), 'usable row')} {'is' if len(data) == 1 else 'are'} left; "
            f"at least {MIN_ROWS} are needed to train and validate.",
            count=len(data),
        )
    if held_out is not None and len(held_out) == 0:
        report.add("error", "too_few_rows", "The validation file has no usable rows.", count=0)


def _check_classes(counts: Counter[str], data: LabelledData, report: DataReport) -> None:
    if len(data.label_names) > MAX_LABELS:
        report.add(
            "error",
            "too_many_labels",
            f"The label column holds {len(data.label_names):,} different labels; at most "
            f"{MAX_LABELS:,} can be trained here (the evaluation alone would compare every label "
            "with every other). Check that it is the label column, or merge rare labels.",
            count=len(data.label_names),
        )
    if len(counts) == 1:
        only = next(iter(counts))
        what = (
            "Every row has the label" if data.problem_type != "multi_label" else "The only label is"
        )
        report.add(
            "error",
            "one_class",
            f"{what} '{only}'; a classifier needs at least two different labels to learn from.",
        )
    if data.problem_type == "binary" and len(data.label_names) != 2:
        report.add(
            "error",
            "problem_type",
            f"A binary problem needs exactly 2 labels, but the data has {len(data.label_names)}: "
            f"{quoted(data.label_names)}. Choose single_label instead.",
            count=len(data.label_names),
        )
    rare = [label for label in data.label_names if 0 < counts[label] < 2]
    if rare:
        report.add(
            "warning",
            "rare_class",
            f"{counted(len(rare), 'label')} {has_or_have(len(rare))} only one example "
            f"({quoted(rare)}); "
            "the model can hardly learn a class from a single row. Add examples or remove it.",
            count=len(rare),
        )


def _check_balance(counts: Counter[str], report: DataReport) -> None:
    if len(counts) < 2:
        return
    (big, most), (small, least) = counts.most_common()[0], counts.most_common()[-1]
    ratio = most / least
    if ratio >= IMBALANCE_RATIO:
        report.add(
            "warning",
            "imbalance",
            f"The labels are unbalanced: '{big}' has {counted(most, 'row')} and '{small}' only "
            f"{least} ({ratio:.1f} to 1). The model may favour '{big}'; consider class weights "
            "or more examples of the small classes.",
        )
    else:
        report.add(
            "info",
            "class_balance",
            f"The labels are fairly balanced: the largest, '{big}' ({counted(most, 'row')}), is "
            f"{ratio:.1f} times the smallest, '{small}' ({least}).",
        )


def _check_duplicates(data: LabelledData, report: DataReport) -> None:
    pairs = Counter(zip(data.texts, data.labels, strict=True))
    repeats = sum(n - 1 for n in pairs.values())
    if repeats:
        example = next(text for (text, _), n in pairs.items() if n > 1)
        report.add(
            "info",
            "duplicates",
            f"{counted(repeats, 'row')} {'repeats' if repeats == 1 else 'repeat'} an earlier row "
            f"exactly (same text, same label), for example '{excerpt(example)}'. They were kept; "
            "a repeated row counts more in training.",
            count=repeats,
        )
    labels_of: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for text, labels in pairs:
        labels_of[text].append(labels)
    conflicts = [text for text, options in labels_of.items() if len(options) > 1]
    if conflicts:
        shown = " and ".join(f"'{';'.join(o)}'" for o in labels_of[conflicts[0]][:3])
        report.add(
            "warning",
            "conflicting_duplicates",
            f"{counted(len(conflicts), 'text')} {'appears' if len(conflicts) == 1 else 'appear'} "
            f"with different labels, for example '{excerpt(conflicts[0])}' as {shown}. They "
            "were kept as they are; check which label is right.",
            count=len(conflicts),
        )


def _check_overlap(data: LabelledData, held_out: LabelledData, report: DataReport) -> None:
    shared = sorted(set(data.texts) & set(held_out.texts))
    if shared:
        report.add(
            "warning",
            "validation_overlap",
            f"{counted(len(shared), 'text')} of the validation file also "
            f"{'appears' if len(shared) == 1 else 'appear'} in the training file (for example "
            f"'{excerpt(shared[0])}'); validation scores on them overstate how well the model "
            "does on new text.",
            count=len(shared),
        )


def _check_lengths(
    texts: list[str], max_length: int, token_counter: TokenCounter | None, report: DataReport
) -> None:
    """Texts past max_length are cut, and a label that depends on the ending is then unlearnable."""
    if token_counter is None or not texts:
        return
    lengths = [int(n) for n in token_counter(texts)]
    over = [i for i, n in enumerate(lengths) if n > max_length]
    if over:
        longest = max(over, key=lengths.__getitem__)
        report.add(
            "warning",
            "too_long",
            f"{len(over)} of {len(texts)} texts ({percent(len(over), len(texts))}) are longer "
            f"than {max_length} tokens and will be cut to {max_length}; the longest, "
            f"'{excerpt(texts[longest])}', has {lengths[longest]}. Raise the maximum length if "
            "their endings matter.",
            count=len(over),
        )
    else:
        report.add(
            "info",
            "lengths",
            f"All {len(texts)} texts (100%) fit in {max_length} tokens; the longest has "
            f"{max(lengths)} and the median {int(np.median(lengths))}.",
        )
