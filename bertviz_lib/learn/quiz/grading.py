"""Grading: picked options and ten-question tests (free text is graded in meaning.py).

A drawn test is seeded, so a page can redraw the same test on every rerun; drawing also gives
each drawn question (drawn.py) fresh numbers and shuffles every question's options, so neither a
remembered position nor a remembered number answers it.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bertviz_lib.learn.quiz.bank import DIFFICULTIES, TOPICS, Question
from bertviz_lib.learn.quiz.drawn import realise, shuffled

TEST_SIZE = 10  # questions in a test
TEST_MIX = {"easy": 3, "medium": 4, "hard": 3}  # how many of each difficulty a test holds

Choice = str | int | None


@dataclass(frozen=True)
class ChoiceResult:
    """The grade of one picked option, with what the page shows after it.

    `feedback` pairs every option, in the order shown, with why it is right or wrong, so the page
    can say why the learner's choice was wrong and not only which option was right.
    """

    question_id: str
    correct: bool
    chosen: str | None
    answer: str
    solution: tuple[str, ...]
    mistakes: tuple[str, ...]
    feedback: tuple[tuple[str, str], ...] = ()


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
        tuple((option, question.why(option)) for option in question.options),
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
    the test holds them all. Every question comes back ready to show: drawn questions with new
    numbers, and all of them with their options shuffled. The same seed and pool always give the
    same test, so a page can redraw it on every rerun.
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
    return [ready_to_ask(q, rng) for q in sorted(picked, key=lambda q: order[q.difficulty])]


def ready_to_ask(question: Question, rng: random.Random) -> Question:
    """The question as one attempt shows it: fresh numbers if it is drawn, options shuffled."""
    return shuffled(realise(question, rng), rng)


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
