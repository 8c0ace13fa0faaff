"""The label vocabulary: spellings that differ only in case, spaces or a trailing ".0" merged (and
said so), labels sorted the way people expect (numbers as numbers).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from bertviz_lib.data.columns import INTEGER
from bertviz_lib.data.findings import DataReport
from bertviz_lib.data.labelled import LabelledData, ProblemType, Row
from bertviz_lib.data.wording import counted, listing

_WHOLE_NUMBER = re.compile(r"([+-]?\d+)(\.0*)?")


def labelled_from_rows(
    rows: list[Row], held: list[Row] | None, kind: ProblemType, report: DataReport
) -> tuple[LabelledData, LabelledData | None]:
    """One label vocabulary for both files, so a label means the same class on either side."""
    everything = rows + (held or [])
    mapping = _canonical_labels([label for _, labels in everything for label in labels], report)
    names = _sorted_labels(set(mapping.values()))
    data = build_labelled(rows, mapping, names, kind)
    return data, (None if held is None else build_labelled(held, mapping, names, kind))


def _canonical_labels(labels: list[str], report: DataReport) -> dict[str, str]:
    """Treat "1.0" as 1, and "Positive" and "POSITIVE" as one class typed two ways."""
    numbered = {label: whole_number(label) for label in labels}
    counts = Counter(numbered[label] for label in labels)
    merges = _spelling_merges(counts)
    _report_merges(merges, counts, report)
    return {label: merges.get(number, number) for label, number in numbered.items()}


def whole_number(label: str) -> str:
    match = _WHOLE_NUMBER.fullmatch(label)
    return str(int(match.group(1))) if match else label


def _spelling_merges(counts: Counter[str]) -> dict[str, str]:
    groups: dict[str, list[str]] = defaultdict(list)
    for label in counts:
        groups[" ".join(label.split()).casefold()].append(label)
    merges = {}
    for spellings in groups.values():
        keep = max(spellings, key=counts.__getitem__)
        merges.update({spelling: keep for spelling in spellings if spelling != keep})
    return merges


def _report_merges(merges: dict[str, str], counts: Counter[str], report: DataReport) -> None:
    if not merges:
        return
    into: dict[str, list[str]] = defaultdict(list)
    for spelling, keep in merges.items():
        into[keep].append(f"'{spelling}' ({counted(counts[spelling], 'row')})")
    parts = [f"{listing(sources, len(sources))} into '{keep}'" for keep, sources in into.items()]
    report.add(
        "warning",
        "label_spelling",
        "Some labels differ only in upper/lower case or spacing, so they were merged into their "
        f"most frequent spelling: {'; '.join(parts)}.",
        count=len(merges),
    )


def _sorted_labels(labels: set[str]) -> list[str]:
    if labels and all(INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels, key=lambda label: (label.casefold(), label))


def build_labelled(
    rows: list[Row], mapping: dict[str, str], names: list[str], kind: ProblemType
) -> LabelledData:
    order = {name: i for i, name in enumerate(names)}
    labels = [tuple(sorted({mapping[label] for label in row}, key=order.get)) for _, row in rows]
    return LabelledData([text for text, _ in rows], labels, names, kind)
