"""A learner's progress as plain data, so a page can keep it in `st.session_state`.

Nothing here touches Streamlit or the disk: `Progress` is a dataclass of lists and dicts, and
`to_dict`/`from_dict` turn it into JSON-ready data should a page want to offer a download.

Rules, chosen to be simple to explain on the page:
- One answer counts per question per attempt. A page names the attempt (a test's seed, a practice
  round); clicking "Check" or "Score" again in the same attempt records nothing new, so a learner
  cannot raise a topic's accuracy by clicking twice.
- A topic is mastered when at least MASTERY_MIN_ANSWERS answers have been given in it and at
  least MASTERY_ACCURACY of the latest MASTERY_WINDOW of them are right. Looking at the latest
  answers (not all of them) lets early mistakes stop counting once the learner has caught up. Only
  graded answers count: a free-text answer's automatic score, never what the learner ticked.
- A wrong answer to a question Practice can serve again (a bank or drawn choice question) puts it
  in the review queue, due again after REVIEW_GAP more answers; Practice serves due questions
  first, answering right takes one out, answering wrong again resets its gap. Questions nothing
  can serve again (free text, questions about a run) are never queued, so the queue can empty.
- Flashcards are rated by the learner ("knew it" / "not yet") and come back by spaced review: a
  card climbs one box per "knew it" and falls to the first box on "not yet"; each box waits
  longer (CARD_INTERVALS, counted in cards rated) before the card is due again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bertviz_lib.learn.quiz.bank import Question
from bertviz_lib.learn.quiz.grading import TestScore, TopicScore

MASTERY_ACCURACY = 0.8  # share of the latest answers in a topic that must be right
MASTERY_MIN_ANSWERS = 3  # answers a topic needs before it can count as mastered
MASTERY_WINDOW = 5  # how many of the latest answers in a topic mastery looks at
REVIEW_GAP = 3  # answers to other questions before a missed question is due again
CARD_INTERVALS = (1, 3, 7, 15)  # cards rated before a card in box 0, 1, 2, 3 is due again


@dataclass
class Attempt:
    """One graded answer."""

    question_id: str
    topic: str
    correct: bool
    attempt: str = ""


@dataclass
class TestRecord:
    """One finished test, for the score history."""

    correct: int
    total: int


@dataclass
class SelfAssessment:
    """What a learner believes a free-text answer covered, kept apart from its automatic score."""

    question_id: str
    attempt: str
    automatic: int  # concepts the grader credited
    claimed: int  # concepts the learner ticked as covered
    total: int


@dataclass
class CardState:
    """Where a flashcard stands in the spaced review."""

    box: int = 0
    due: int = 0  # the number of cards rated at which this card is due again


@dataclass
class Progress:
    """Everything the Quiz page remembers about one learner in one browser session."""

    attempts: list[Attempt] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)
    review_due: dict[str, int] = field(default_factory=dict)  # question id -> answers count
    self_assessments: list[SelfAssessment] = field(default_factory=list)
    cards: dict[str, CardState] = field(default_factory=dict)
    cards_rated: int = 0

    def record(self, question: Question, correct: bool, attempt: str = "") -> bool:
        """Add one graded answer and update the review queue; False when already recorded.

        `attempt` names the attempt the answer belongs to; a second answer to the same question
        in the same attempt is ignored. For choice questions pass `ChoiceResult.correct`, for
        free text `FreeTextResult.passed` (the automatic score, never a self-assessment).
        """
        if attempt and self.answered_in(question.id, attempt):
            return False
        self.attempts.append(Attempt(question.id, question.topic, bool(correct), attempt))
        if correct:
            self.review_due.pop(question.id, None)
        elif question.reviewable:
            self.review_due[question.id] = len(self.attempts) + REVIEW_GAP
        return True

    def answered_in(self, question_id: str, attempt: str) -> bool:
        """True when this question already has an answer recorded in this attempt."""
        return any(a.question_id == question_id and a.attempt == attempt for a in self.attempts)

    def record_test(self, questions: Sequence[Question], score: TestScore, attempt: str) -> bool:
        """Add every answer of a marked test, then its total to the score history (once)."""
        if any(a.attempt == attempt for a in self.attempts):
            return False
        for question, result in zip(questions, score.results, strict=True):
            self.record(question, result.correct, attempt)
        self.tests.append(TestRecord(score.correct, score.total))
        return True

    def record_self_assessment(
        self, question: Question, attempt: str, automatic: int, claimed: int
    ) -> None:
        """Keep what the learner ticked for a free-text attempt (the latest ticks win)."""
        self.self_assessments = [
            s for s in self.self_assessments
            if not (s.question_id == question.id and s.attempt == attempt)
        ]  # fmt: skip
        total = len(question.checklist)
        self.self_assessments.append(
            SelfAssessment(question.id, attempt, automatic, claimed, total)
        )

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

    def next_question(
        self, pool: Sequence[Question], seed: int = 0, reviews: Sequence[Question] = ()
    ) -> Question | None:
        """What to practise next: a due review, else an unseen question, else any other one.

        Due reviews come from `reviews` (every question Practice can serve, whatever the topic
        chosen) as well as from `pool`, so the queue always drains. Unseen questions from topics
        not yet mastered come next. The choice depends only on the seed and the progress so far,
        so a page rerun shows the same question again.
        """
        by_id = {q.id: q for q in (*reviews, *pool)}
        for question_id in self.due_for_review():
            if question_id in by_id:
                return by_id[question_id]
        if not pool:
            return None
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

    def rate_card(self, card: Question, knew: bool) -> CardState:
        """Record a flashcard self-rating and schedule the card's next review."""
        self.cards_rated += 1
        state = self.cards.get(card.id, CardState())
        box = min(state.box + 1, len(CARD_INTERVALS) - 1) if knew else 0
        self.cards[card.id] = CardState(box, self.cards_rated + CARD_INTERVALS[box])
        return self.cards[card.id]

    def cards_due(self, cards: Sequence[Question]) -> list[str]:
        """Ids of rated cards whose wait is over, most overdue first."""
        due = [(self.cards[c.id].due, c.id) for c in cards
               if c.id in self.cards and self.cards[c.id].due <= self.cards_rated]  # fmt: skip
        return [card_id for _, card_id in sorted(due)]

    def next_card(self, cards: Sequence[Question]) -> Question | None:
        """The card to show: a due one, else an unseen one (in bank order), else the soonest due."""
        if not cards:
            return None
        by_id = {c.id: c for c in cards}
        due = self.cards_due(cards)
        if due:
            return by_id[due[0]]
        unseen = [c for c in cards if c.id not in self.cards]
        if unseen:
            return unseen[0]
        return min(cards, key=lambda c: (self.cards[c.id].due, c.id))

    def to_dict(self) -> dict:
        """Plain JSON-ready data (for a download, or a test)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        return cls(
            attempts=[Attempt(**a) for a in data.get("attempts", [])],
            tests=[TestRecord(**t) for t in data.get("tests", [])],
            review_due={str(k): int(v) for k, v in data.get("review_due", {}).items()},
            self_assessments=[SelfAssessment(**s) for s in data.get("self_assessments", [])],
            cards={str(k): CardState(**v) for k, v in data.get("cards", {}).items()},
            cards_rated=int(data.get("cards_rated", 0)),
        )
