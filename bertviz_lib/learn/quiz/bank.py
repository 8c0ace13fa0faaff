"""The question bank: a YAML data file checked against a schema and read into dataclasses.

Questions live in `bank.yaml` so that they can be reviewed and extended without touching code.
Loading is strict: a bank with a broken item fails with every problem listed at once, because a
quiz that silently drops or mis-grades a question is worse than one that refuses to start.
Concept tags are a fixed list (`CONCEPTS`) so that coverage of the learning page can be checked.

Every option of a choice question carries its own feedback (`why`): after an answer the page says
why each wrong option is wrong, not only which one was right. Questions whose numbers are drawn
anew for every attempt are written in Python (`drawn.py`) and join the bank when it loads.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

BANK_PATH = Path(__file__).with_name("bank.yaml")

DIFFICULTIES = ("easy", "medium", "hard")
LEVELS = ("beginner", "intermediate", "advanced")
KINDS = ("multiple_choice", "code_reading", "free_text", "flashcard")
CHOICE_KINDS = ("multiple_choice", "code_reading")
ORIGINS = ("bank", "drawn", "run")  # bank.yaml, drawn.py (new numbers per attempt), from_run.py
SERVED_AGAIN = ORIGINS[:2]  # the origins Practice can serve again, so a miss can come back
MIN_OPTIONS, MAX_OPTIONS = 3, 5
MIN_CHECKLIST, MAX_CHECKLIST = 4, 6
LIVE_PAGE = re.compile(r"^app_pages/[a-z_]+\.py$")
QUESTION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

# Topics group questions for the per-topic breakdown of a test and for mastery.
TOPICS: dict[str, str] = {
    "bert": "BERT and fine-tuning",
    "inputs": "Tokens and model inputs",
    "head": "The head and its outputs",
    "training": "Training settings",
    "evaluation": "Evaluating a classifier",
    "explanations": "Explanations",
}

# Concepts are finer than topics: every one must be taught by at least two questions.
CONCEPTS: dict[str, str] = {
    "bert_bidirectional": "What BERT is, and why it reads context in both directions",
    "fine_tuning": "Fine-tuning: adapting pre-trained weights on labelled examples",
    "cls_token": "The [CLS] token and its output vector as the summary of the input",
    "classification_head": "The head: a linear layer on [CLS], with sigmoid or softmax",
    "metrics": "Accuracy, precision, recall and F1 (and why MSE on class ids is not one of them)",
    "tokenization": "Tokenizing for BERT: ids, attention mask, [SEP], [PAD], truncation",
    "logits_argmax": "Reading logits: argmax over the classes, or a threshold for one sigmoid",
    "missing_labels": "No labels, no loss: what the model returns without labels",
    "overfitting": "Avoiding overfitting on small data",
    "warmup": "Learning-rate warm-up",
    "batch_epochs": "Batch size, steps and epochs",
    "integrated_gradients": "Integrated Gradients: baseline, completeness, convergence delta",
    "attention_vs_attribution": "Attention versus attribution",
    "confusion_matrix": "Reading a confusion matrix",
    "calibration": "Calibration: do confidences match how often the model is right?",
    "roc_pr_auc": "ROC-AUC and PR-AUC: how well the scores rank, and which to read on rare classes",
    "loss_functions": "Cross-entropy versus BCE-with-logits, num_labels=1, and the double softmax",
    "brier_score": "The Brier score: squared error on predicted probabilities",
    "data_splits": "Train, validation and test, and the bias of picking a checkpoint on validation",
    "class_weights": "Class weights: making rare classes count in the loss",
    "seed_variance": "The spread of results across seeds",
}
# Hard items that take several steps of reasoning, by the kind of step; a test counts them.
SKILLS: dict[str, str] = {
    "loss_curve": "Diagnose a run from its loss curves",
    "pr_threshold": "Choose a decision threshold from a precision-recall table",
    "training_bug": "Spot the bug in a training or evaluation loop",
    "confusion_metric": "Compute a metric from a confusion matrix",
    "calculation": "Work a number out in several steps",
}
# The concepts of the learning page the quiz grows from; the rest are this app's own.
SEED_CONCEPTS = (
    "bert_bidirectional",
    "fine_tuning",
    "cls_token",
    "classification_head",
    "metrics",
    "tokenization",
    "logits_argmax",
    "missing_labels",
    "overfitting",
)


class BankError(ValueError):
    """The bank file breaks the schema; the message lists every problem found."""


@dataclass(frozen=True)
class LiveLink:
    """A pointer to the app page where the concept can be seen on a real model."""

    page: str
    label: str


@dataclass(frozen=True)
class ChecklistConcept:
    """One idea a free-text answer should contain, described by meaning rather than by words.

    `statements` are ways of saying the idea right; `misconceptions` are the wrong ideas it is
    confused with. The grader credits a clause that is closer to the statements than to the
    misconceptions, so a misconception must be listed to be told apart from its concept.
    """

    name: str
    statements: tuple[str, ...]
    misconceptions: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    """Any quiz item: a bank question, a flashcard, a free-text prompt or a run-derived question.

    For choice kinds `answer` is exactly one of `options`, and `feedback[i]` says why option i is
    right or wrong; for flashcards `answer` is the back of the card, and for free text a model
    answer. `snippet` names a runnable snippet in `bertviz_lib.learn.lessons.SNIPPETS` whose
    source is `code`. `origin` says where the item comes from (see ORIGINS): only bank and drawn
    items can come back for review, since only those can be served again.
    """

    id: str
    topic: str
    concepts: tuple[str, ...]
    difficulty: str
    level: str
    kind: str
    prompt: str
    answer: str
    solution: tuple[str, ...]
    hint: str
    mistakes: tuple[str, ...]
    options: tuple[str, ...] = ()
    live: LiveLink | None = None
    code: str | None = None
    snippet: str | None = None
    checklist: tuple[ChecklistConcept, ...] = ()
    feedback: tuple[str, ...] = ()
    skill: str | None = None
    origin: str = "bank"

    @property
    def is_choice(self) -> bool:
        """True for questions graded by picking one option."""
        return self.kind in CHOICE_KINDS

    @property
    def reviewable(self) -> bool:
        """A wrong answer can come back in Practice: a choice item from the bank or drawn.py."""
        return self.is_choice and self.origin in SERVED_AGAIN

    def why(self, option: str) -> str:
        """The feedback for one option: why it is right, or why it is wrong."""
        if option not in self.options:
            raise ValueError(f"{option!r} is not one of the options of '{self.id}'.")
        return self.feedback[self.options.index(option)] if self.feedback else ""

    @property
    def answer_index(self) -> int | None:
        """Position of the answer among the options (None for kinds without options)."""
        return self.options.index(self.answer) if self.is_choice else None

    @property
    def topic_title(self) -> str:
        return TOPICS.get(self.topic, self.topic)


@dataclass(frozen=True)
class Bank:
    """All items of the bank, in file order, with the look-ups the Learn page needs."""

    questions: tuple[Question, ...]

    def __len__(self) -> int:
        return len(self.questions)

    def get(self, question_id: str) -> Question:
        """The item with this id; KeyError names the id when there is none."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(f"No question with id '{question_id}' in the bank.")

    def of_kind(self, *kinds: str) -> list[Question]:
        return [q for q in self.questions if q.kind in kinds]

    @property
    def choice_questions(self) -> list[Question]:
        """Multiple-choice and code-reading questions: what tests and practice draw from."""
        return self.of_kind(*CHOICE_KINDS)

    @property
    def flashcards(self) -> list[Question]:
        return self.of_kind("flashcard")

    @property
    def free_text(self) -> list[Question]:
        return self.of_kind("free_text")

    def concept_coverage(self) -> dict[str, list[str]]:
        """Concept tag -> ids of the choice questions that teach it (every tag, even unused)."""
        coverage: dict[str, list[str]] = {tag: [] for tag in CONCEPTS}
        for question in self.choice_questions:
            for tag in question.concepts:
                coverage[tag].append(question.id)
        return coverage


def load_bank(path: str | Path | None = None) -> Bank:
    """The bank from `path`, or the packaged bank.yaml (parsed once per process) by default.

    The packaged bank also holds one instance of each drawn question (see drawn.py); a test or a
    practice round draws fresh numbers for it.
    """
    if path is None:
        return _packaged_bank()
    return _read(Path(path))


@lru_cache(maxsize=1)
def _packaged_bank() -> Bank:
    from bertviz_lib.learn.quiz.drawn import drawn_questions

    bank = _read(BANK_PATH)
    drawn = drawn_questions()
    problems = _duplicate_ids([q.id for q in (*bank.questions, *drawn)])
    if problems:
        raise BankError("drawn.py: " + " ".join(problems))
    return Bank((*bank.questions, *drawn))


def _read(path: Path) -> Bank:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise BankError(f"Could not read the question bank {path}: {error}") from error
    return parse_bank(data, source=path.name)


def parse_bank(data: object, source: str = "bank") -> Bank:
    """Validate parsed YAML (a mapping with a `questions` list) and build the Bank."""
    items = data.get("questions") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items:
        raise BankError(f"{source}: expected a mapping with a non-empty 'questions' list.")
    problems: list[str] = []
    questions = []
    for number, item in enumerate(items, start=1):
        label = f"item {number} ({item.get('id', 'no id')})" if isinstance(item, Mapping) else ""
        found = _item_problems(item)
        problems += [f"{label or f'item {number}'}: {p}" for p in found]
        if not found:
            questions.append(_question(item))
    problems += _duplicate_ids(item.get("id") for item in items if isinstance(item, Mapping))
    if problems:
        raise BankError(f"{source} has {len(problems)} problem(s):\n- " + "\n- ".join(problems))
    return Bank(tuple(questions))


REQUIRED_TEXT = ("id", "topic", "difficulty", "level", "kind", "prompt", "answer", "hint")
REQUIRED_LISTS = ("concepts", "solution", "mistakes")
OPTIONAL_FIELDS = ("options", "checklist", "live", "code", "snippet", "skill")


def _item_problems(item: object) -> list[str]:
    """Every way this item breaks the schema (empty when it is fine)."""
    if not isinstance(item, Mapping):
        return ["each item must be a mapping of fields"]
    problems = [f"'{key}' must be a non-empty string" for key in REQUIRED_TEXT
                if not _text(item.get(key))]  # fmt: skip
    problems += [f"'{key}' must be a non-empty list of strings" for key in REQUIRED_LISTS
                 if not _texts(item.get(key))]  # fmt: skip
    if problems:
        return problems
    problems += _enum_problems(item)
    if item["kind"] in CHOICE_KINDS:
        problems += _option_problems(item)
    elif "options" in item:
        problems.append(f"a {item['kind']} item has no options")
    if item["kind"] == "free_text":
        problems += _checklist_problems(item.get("checklist"))
    elif "checklist" in item:
        problems.append("only free_text items have a checklist")
    problems += _optional_problems(item)
    return problems


def _enum_problems(item: Mapping) -> list[str]:
    checks = [
        ("kind", KINDS),
        ("difficulty", DIFFICULTIES),
        ("level", LEVELS),
        ("topic", tuple(TOPICS)),
    ]
    problems = [f"'{key}' is {item[key]!r}; expected one of {', '.join(allowed)}"
                for key, allowed in checks if item[key] not in allowed]  # fmt: skip
    unknown = [tag for tag in item["concepts"] if tag not in CONCEPTS]
    if unknown:
        problems.append(f"unknown concept tag(s) {unknown}; add them to CONCEPTS first")
    if not QUESTION_ID.match(item["id"]):
        problems.append("'id' must be lower-case letters, digits, '-' and '_'")
    return problems


def _option_problems(item: Mapping) -> list[str]:
    options = item.get("options")
    if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        return [f"'options' must list {MIN_OPTIONS} to {MAX_OPTIONS} options"]
    if not all(
        isinstance(o, Mapping) and _text(o.get("text")) and _text(o.get("why")) for o in options
    ):
        return ["each option needs a 'text' and a 'why' (why it is right, or why it is wrong)"]
    texts = [o["text"] for o in options]
    problems = []
    if len(set(texts)) != len(texts):
        problems.append("options must be different from each other")
    if item["answer"] not in texts:
        problems.append("'answer' must be exactly one of the options")
    skill = item.get("skill")
    if skill is not None and skill not in SKILLS:
        problems.append(f"'skill' is {skill!r}; expected one of {', '.join(SKILLS)}")
    return problems


def _checklist_problems(checklist: object) -> list[str]:
    if not isinstance(checklist, list) or not MIN_CHECKLIST <= len(checklist) <= MAX_CHECKLIST:
        return [f"'checklist' must list {MIN_CHECKLIST} to {MAX_CHECKLIST} concepts"]
    problems = []
    for entry in checklist:
        if not (
            isinstance(entry, Mapping)
            and _text(entry.get("name"))
            and _texts(entry.get("statements"))
            and _texts(entry.get("misconceptions"))
        ):
            problems.append(
                "each checklist concept needs a 'name', 'statements' and 'misconceptions'"
            )
    names = [e.get("name") for e in checklist if isinstance(e, Mapping)]
    if len(set(names)) != len(names):
        problems.append("checklist concept names must be different")
    return problems


def _optional_problems(item: Mapping) -> list[str]:
    problems = []
    live = item.get("live")
    if live is not None and not (
        isinstance(live, Mapping)
        and _text(live.get("label"))
        and LIVE_PAGE.match(str(live.get("page", "")))
    ):
        problems.append("'live' needs a 'page' like app_pages/explain.py and a 'label'")
    for key in ("code", "snippet"):
        if key in item and not _text(item[key]):
            problems.append(f"'{key}' must be a non-empty string when given")
    if ("code" in item or "snippet" in item) and item["kind"] != "code_reading":
        problems.append("only code_reading items carry code or a snippet")
    if "skill" in item and item["kind"] not in CHOICE_KINDS:
        problems.append("only choice items carry a skill")
    if "snippet" in item and "code" not in item:
        problems.append("an item with a 'snippet' must also show its 'code'")
    known = {*REQUIRED_TEXT, *REQUIRED_LISTS, *OPTIONAL_FIELDS}
    unknown = sorted(set(item) - known)
    if unknown:
        problems.append(f"unknown field(s) {unknown}")
    return problems


def _duplicate_ids(ids: Iterable[object]) -> list[str]:
    counts = Counter(i for i in ids if isinstance(i, str))
    return [f"the id '{i}' is used more than once" for i, n in counts.items() if n > 1]


def _question(item: Mapping) -> Question:
    live = item.get("live")
    return Question(
        id=item["id"],
        topic=item["topic"],
        concepts=tuple(item["concepts"]),
        difficulty=item["difficulty"],
        level=item["level"],
        kind=item["kind"],
        prompt=item["prompt"].strip(),
        answer=item["answer"],
        solution=tuple(item["solution"]),
        hint=item["hint"],
        mistakes=tuple(item["mistakes"]),
        options=tuple(option["text"] for option in item.get("options", ())),
        feedback=tuple(option["why"] for option in item.get("options", ())),
        skill=item.get("skill"),
        live=LiveLink(live["page"], live["label"]) if live else None,
        code=item["code"].rstrip("\n") if item.get("code") else None,
        snippet=item.get("snippet"),
        checklist=tuple(
            ChecklistConcept(
                entry["name"], tuple(entry["statements"]), tuple(entry["misconceptions"])
            )
            for entry in item.get("checklist", ())
        ),
    )


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _texts(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(_text(v) for v in value)
