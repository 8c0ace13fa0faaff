"""A learner's progress as plain data, so a page can keep it in `st.session_state`.

Nothing here touches Streamlit or the disk: `Progress` is a dataclass of lists and dicts, and
`to_dict`/`from_dict` turn it into JSON-ready data should a page want to offer a download.

Rules, chosen to be simple to explain on the page:
- A topic is mastered when at least MASTERY_MIN_ANSWERS answers have been given in it and at
  least MASTERY_ACCURACY of the latest MASTERY_WINDOW of them are right. Looking at the latest
  answers (not all of them) lets early mistakes stop counting once the learner has caught up.
- A wrong answer puts the question in the review queue, due again after REVIEW_GAP more answers
  to other questions; answering it right takes it out, answering it wrong again resets the gap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bertviz_lib.learn.quiz.bank import Question
from bertviz_lib.learn.quiz.grading import TestScore, TopicScore

MASTERY_ACCURACY = 0.8
MASTERY_MIN_ANSWERS = 3
MASTERY_WINDOW = 5
REVIEW_GAP = 3


@dataclass
class Attempt:
    """One graded answer."""

    question_id: str
    topic: str
    correct: bool


@dataclass
class TestRecord:
    """One finished test, for the score history."""

    correct: int
    total: int


@dataclass
class Progress:
    """Everything the Learn page remembers about one learner in one browser session."""

    attempts: list[Attempt] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)
    review_due: dict[str, int] = field(default_factory=dict)  # question id -> answers count

    def record(self, question: Question, correct: bool) -> None:
        """Add one graded answer and update the review queue.

        For choice questions pass `ChoiceResult.correct`, for free text `FreeTextResult.passed`,
        and for a flashcard the learner's own "I knew it".
        """
        self.attempts.append(Attempt(question.id, question.topic, bool(correct)))
        if correct:
            self.review_due.pop(question.id, None)
        else:
            self.review_due[question.id] = len(self.attempts) + REVIEW_GAP

    def record_test(self, questions: Sequence[Question], score: TestScore) -> None:
        """Add every answer of a marked test, then the test's total to the score history."""
        for question, result in zip(questions, score.results, strict=True):
            self.record(question, result.correct)
        self.tests.append(TestRecord(score.correct, score.total))

    @property
    def answered(self) -> int:
        return len(self.attempts)

    def score_history(self) -> list[float]:
        """Percent right of every finished test, oldest first."""
        return [100.0 * t.correct / t.total if t.total else 0.0 for t in self.tests]

    def topic_accuracy(self) -> dict[str, TopicScore]:
        """All answers so far, right out of given, per topic."""
        scores: dict[str, TopicScore] = {}
        for attempt in self.attempts:
            score = scores.setdefault(attempt.topic, TopicScore())
            score.total += 1
            score.correct += attempt.correct
        return scores

    def mastered_topics(self) -> list[str]:
        """Topics with enough answers whose latest answers are mostly right (see module notes)."""
        mastered = []
        for topic in self.topic_accuracy():
            recent = [a.correct for a in self.attempts if a.topic == topic][-MASTERY_WINDOW:]
            if len(recent) >= MASTERY_MIN_ANSWERS and sum(recent) / len(recent) >= MASTERY_ACCURACY:
                mastered.append(topic)
        return mastered

    def due_for_review(self) -> list[str]:
        """Ids of wrongly answered questions whose gap has passed, most overdue first."""
        due = [(when, qid) for qid, when in self.review_due.items() if when <= self.answered]
        return [qid for _, qid in sorted(due)]

    def next_question(self, pool: Sequence[Question], seed: int = 0) -> Question | None:
        """What to practise next: a due review, else an unseen question, else any other one.

        Unseen questions from topics not yet mastered come first. The choice depends only on the
        seed and the progress so far, so a page rerun shows the same question again.
        """
        if not pool:
            return None
        by_id = {q.id: q for q in pool}
        for question_id in self.due_for_review():
            if question_id in by_id:
                return by_id[question_id]
        rng = random.Random(seed * 1_000_003 + self.answered)
        seen = {a.question_id for a in self.attempts}
        mastered = set(self.mastered_topics())
        for candidates in (
            [q for q in pool if q.id not in seen and q.topic not in mastered],
            [q for q in pool if q.id not in seen],
            [q for q in pool if not self.attempts or q.id != self.attempts[-1].question_id],
        ):
            if candidates:
                return rng.choice(candidates)
        return pool[0]

    def to_dict(self) -> dict:
        """Plain JSON-ready data (for a download, or a test)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        return cls(
            attempts=[Attempt(**a) for a in data.get("attempts", [])],
            tests=[TestRecord(**t) for t in data.get("tests", [])],
            review_due={str(k): int(v) for k, v in data.get("review_due", {}).items()},
        )
