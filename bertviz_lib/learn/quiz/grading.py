"""Grading: picked options, free text by concepts, and ten-question tests.

Free text is graded by which checklist concepts it names, not by whether it is right: matching a
phrase cannot tell "fine-tuning is not training from scratch" from its opposite. The score is a
guide for the learner ("3 of 5 concepts"), shown beside a model answer, never a verdict.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bertviz_lib.learn.quiz.bank import DIFFICULTIES, TOPICS, Question

TEST_SIZE = 10
TEST_MIX = {"easy": 3, "medium": 4, "hard": 3}
PASS_SHARE = 0.6  # a free-text answer "passes" when it names at least this share of concepts

Choice = str | int | None


@dataclass(frozen=True)
class ChoiceResult:
    """The grade of one picked option, with what the page shows after it."""

    question_id: str
    correct: bool
    chosen: str | None
    answer: str
    solution: tuple[str, ...]
    mistakes: tuple[str, ...]


def grade_choice(question: Question, chosen: Choice) -> ChoiceResult:
    """Grade a multiple-choice or code-reading answer given as the option text or its index.

    None (nothing picked) is wrong. A text or index that is not an option raises ValueError:
    that is a page bug, not a learner's mistake.
    """
    if not question.is_choice:
        raise ValueError(f"'{question.id}' is a {question.kind} item, not a choice question.")
    picked = _option(question, chosen)
    return ChoiceResult(
        question.id,
        picked == question.answer,
        picked,
        question.answer,
        question.solution,
        question.mistakes,
    )


def _option(question: Question, chosen: Choice) -> str | None:
    if chosen is None:
        return None
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        if not 0 <= chosen < len(question.options):
            raise ValueError(f"Option {chosen} is outside 0..{len(question.options) - 1}.")
        return question.options[chosen]
    if chosen not in question.options:
        raise ValueError(f"{chosen!r} is not one of the options of '{question.id}'.")
    return chosen


@dataclass(frozen=True)
class FreeTextResult:
    """Which checklist concepts an answer names, and with which phrase."""

    question_id: str
    found: tuple[str, ...]
    missing: tuple[str, ...]
    matched_phrases: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.found) + len(self.missing)

    @property
    def score(self) -> str:
        """The grade as the page shows it, e.g. '3 of 5 concepts'."""
        return f"{len(self.found)} of {self.total} concepts"

    @property
    def share(self) -> float:
        return len(self.found) / self.total if self.total else 0.0

    @property
    def passed(self) -> bool:
        """At least PASS_SHARE of the concepts named; what progress records as 'correct'."""
        return self.share >= PASS_SHARE


def grade_free_text(question: Question, text: str) -> FreeTextResult:
    """Check a free-text answer against the question's checklist, concept by concept."""
    if question.kind != "free_text":
        raise ValueError(f"'{question.id}' is a {question.kind} item, not a free-text prompt.")
    words = normalise(text or "")
    matched = {}
    for concept in question.checklist:
        phrase = next((p for p in concept.phrases if _contains(words, normalise(p))), None)
        if phrase is not None:
            matched[concept.name] = phrase
    names = [c.name for c in question.checklist]
    return FreeTextResult(
        question.id,
        tuple(n for n in names if n in matched),
        tuple(n for n in names if n not in matched),
        matched,
    )


def mentions(text: str, phrase: str) -> bool:
    """True when `text` names `phrase`, with the tolerance the free-text grader uses.

    Case, accents, punctuation and apostrophes are ignored; hyphens count as spaces and a
    compound may be written joined or split ("fine-tuning", "fine tuning", "finetuning"); each
    word may carry a plural ending (-s, -es, -ies). Matching is by whole words, so "pad" is not
    found inside "padding": list every form that should count as a phrase of its own.
    """
    return _contains(normalise(text), normalise(phrase))


def normalise(text: str) -> list[str]:
    """Lower-case words without accents or punctuation; brackets vanish ("[CLS]" -> "cls")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    plain = re.sub(r"['\u2019`]", "", plain.lower())
    return re.findall(r"[a-z0-9]+", plain)


def _forms(word: str) -> set[str]:
    """The word and the singulars it could be a plural of ("classes" -> class, classe)."""
    forms = {word}
    if len(word) > 4 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    return forms


def _same(word: str, other: str) -> bool:
    return bool(_forms(word) & _forms(other))


def _contains(words: Sequence[str], phrase: Sequence[str]) -> bool:
    """Phrase found word by word, or with its words joined or split differently."""
    if not phrase:
        return False
    size = len(phrase)
    for start in range(len(words)):
        window = words[start : start + size]
        if len(window) == size and all(map(_same, window, phrase)):
            return True
        if _joined_match(words, start, "".join(phrase), size + 1):
            return True
    return False


def _joined_match(words: Sequence[str], start: int, joined: str, longest: int) -> bool:
    for length in range(1, longest + 1):
        if start + length > len(words):
            break
        if _same("".join(words[start : start + length]), joined):
            return True
    return False


def mix_for(size: int) -> dict[str, int]:
    """How many easy/medium/hard questions a test of `size` holds: 3/4/3 for ten."""
    if size == TEST_SIZE:
        return dict(TEST_MIX)
    easy = hard = round(size * 0.3)
    return {"easy": easy, "medium": max(0, size - easy - hard), "hard": hard}


def draw_test(
    questions: Iterable[Question],
    seed: int,
    size: int = TEST_SIZE,
    topic: str | Collection[str] | None = None,
    level: str | Collection[str] | None = None,
) -> list[Question]:
    """A seeded test of choice questions, easy first, then medium, then hard.

    Filters keep only the given topic(s) and level(s). When a difficulty runs short the gap is
    filled from the other questions that pass the filters; when fewer than `size` pass at all,
    the test holds them all. The same seed and pool always give the same test, so a page can
    redraw it on every rerun.
    """
    pool = [q for q in questions if q.is_choice and _kept(q, topic, level)]
    rng = random.Random(seed)
    picked: list[Question] = []
    for difficulty, count in mix_for(size).items():
        candidates = [q for q in pool if q.difficulty == difficulty]
        picked += rng.sample(candidates, min(count, len(candidates)))
    rest = [q for q in pool if q not in picked]
    picked += rng.sample(rest, min(size - len(picked), len(rest)))
    order = {name: i for i, name in enumerate(DIFFICULTIES)}
    return sorted(picked, key=lambda q: order[q.difficulty])


def _kept(question: Question, topic, level) -> bool:
    def allowed(value: str, wanted) -> bool:
        return (
            wanted is None or value == wanted or (not isinstance(wanted, str) and value in wanted)
        )

    return allowed(question.topic, topic) and allowed(question.level, level)


@dataclass
class TopicScore:
    """Right answers out of answers given, for one topic."""

    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class WrongAnswer:
    """A missed test question with what the learner picked and how to get it right."""

    question: Question
    chosen: str | None
    answer: str
    solution: tuple[str, ...]


@dataclass
class TestScore:
    """A marked test: the total, a per-topic breakdown and the missed questions."""

    correct: int
    total: int
    by_topic: dict[str, TopicScore]
    wrong: list[WrongAnswer]
    results: list[ChoiceResult]

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0

    @property
    def summary(self) -> str:
        return f"{self.correct} of {self.total} right ({self.percent:.0f}%)"

    def topic_titles(self) -> dict[str, TopicScore]:
        """The breakdown keyed by readable topic titles instead of tags."""
        return {TOPICS.get(tag, tag): score for tag, score in self.by_topic.items()}


def score_test(questions: Sequence[Question], answers: Mapping[str, Choice]) -> TestScore:
    """Mark a test: `answers` maps question id to the picked option (missing ids count wrong)."""
    results = [grade_choice(q, answers.get(q.id)) for q in questions]
    by_topic: dict[str, TopicScore] = {}
    wrong = []
    for question, result in zip(questions, results, strict=True):
        score = by_topic.setdefault(question.topic, TopicScore())
        score.total += 1
        score.correct += result.correct
        if not result.correct:
            wrong.append(WrongAnswer(question, result.chosen, result.answer, result.solution))
    correct = sum(r.correct for r in results)
    return TestScore(correct, len(questions), by_topic, wrong, results)
