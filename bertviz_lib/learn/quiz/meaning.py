"""Free-text answers graded by what they mean, not by which words they use.

A phrase list cannot read: "[CLS] is not placed first" contains "first", and "the head of the
studio wrote a summary" contains "head" and "summary", while a right answer in other words
contains none of the phrases. Here an answer is cut into clauses, each clause is embedded with the
bundled all-MiniLM-L6-v2 sentence encoder, and a checklist concept is credited when a clause is
close to one of the concept's reference statements and closer to them than to the misconceptions
listed on the prompt (the concept's own, and its neighbours': a clause that states any known
misconception earns nothing).

The encoder compares meanings well but hardly hears "not": "X is not first" lands next to "X is
first". So negation is handled in words. A clause with a negation cue is never credited, and when
it is close to a concept the concept is refused as negated. Before that, a relative clause that
carries the cue is cut off ("a set the model never trained on" keeps its positive head "a set"),
and the rejected half of a contrast ("rather than X", "instead of X") is dropped.

Two checks come before any concept. A list of words with no sentence structure is not an
explanation: it scores 0 with a message. An answer far, as a whole, from the model answer is about
something else (a story that happens to use the words): it scores 0 with a message too.

Only the automatic score counts as the learner's result; what a learner ticks as covered is
recorded apart by the page (see `Progress.record_self_assessment`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from bertviz_lib.learn.quiz.bank import ChecklistConcept, Question

PASS_SHARE = 0.6  # an answer passes when it is credited with at least this share of its concepts
STATEMENT_SIMILARITY = 0.5  # cosine a clause needs with a reference statement to count as saying it
MISCONCEPTION_MARGIN = 0.02  # how much nearer a statement than a misconception a clause must be
TOPIC_SIMILARITY = 0.2  # cosine the whole answer needs with the model answer to be on the question
KEYWORD_FUNCTION_SHARE = 0.2  # below this share of function words, an answer is a list of words
KEYWORD_SEGMENT_WORDS = 2  # comma-separated pieces this short (median) make a list, not sentences
MIN_UNIT_WORDS = 2  # a clause of fewer words carries no claim of its own
MIN_HEAD_WORDS = 3  # a positive head cut from a negated relative clause needs this many words

KEYWORD_LIST_MESSAGE = (
    "This is a list of words, not an explanation: write sentences that say what each idea does "
    "and why."
)
OFF_TOPIC_MESSAGE = (
    "This answer does not seem to be about the question; explain the idea the prompt asks about."
)
EMPTY_MESSAGE = "Write a few sentences first."  # fewer than MIN_UNIT_WORDS words

# Words that carry grammar rather than content; real sentences are made of many of them.
FUNCTION_WORDS = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "they", "them", "their",
    "there", "here", "is", "are", "was", "were", "be", "been", "being", "am", "has", "have",
    "had", "do", "does", "did", "can", "could", "will", "would", "shall", "should", "may",
    "might", "must", "of", "to", "in", "on", "at", "by", "for", "from", "with", "into", "onto",
    "over", "under", "through", "about", "after", "before", "between", "as", "than", "so",
    "because", "since", "while", "when", "where", "which", "who", "whom", "whose", "what",
    "how", "why", "if", "then", "and", "or", "but", "not", "no", "nor", "never", "each",
    "every", "all", "some", "any", "both", "either", "neither", "one", "i", "you", "we", "he",
    "she", "his", "her", "our", "your", "my", "me", "us", "also", "only", "just", "very",
    "more", "most", "less", "such", "same", "other"
})  # fmt: skip
# Words that flip the meaning of the clause they are in.
# A hyphen keeps a word from being one ("no-information" input, a "non-zero" mask).
NEGATION_CUE = re.compile(
    r"(?<![\w-])(?:not|no|never|none|nothing|neither|nor|without|cannot|\w+n['\u2019]t)(?![\w-])",
    re.IGNORECASE,
)
# Cues that do not negate the claim: "not only X" affirms X, and a negated "low" is a high
# ("F1 is only high when neither is low").
NOT_A_NEGATION = re.compile(
    r"\bnot (?:only|just)\b|\bno matter\b"
    r"|\b(?:neither|none|not|never)(?: of them)? (?:is|are|was|were|gets?|stays?) "
    r"(?:low|small|bad|poor|weak|wrong|worse|zero)\b"
    r"|\b(?:is|are|was|were) (?:not|never) (?:low|small|bad|poor|weak|wrong|worse|zero)\b",
    re.IGNORECASE,
)
# The rejected half of a contrast, up to the next comma or the end of the sentence.
CONTRAST = re.compile(r"\b(?:rather than|instead of)\b[^,;]*", re.IGNORECASE)
# Where a sentence ends: . ! ? ; : followed by a space, a new line, or a bullet.
SENTENCE_BREAK = re.compile(r"(?<=[.!?;:])\s+|\n+")
BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
# Where a clause ends inside a sentence: a comma, a conjunction that starts a new clause, or both.
# The conjunction is captured: a part it starts is a clause of its own.
CLAUSE_BREAK = re.compile(
    r"\s*,\s*(?:\b(but|so|because|since|although|though|whereas|which)\b\s+)?"
    r"|\s+\b(but|so|because|since|although|though|whereas|which)\b\s+",
    re.IGNORECASE,
)
# Finer cuts inside a clause, for clauses that join two claims ("and" and "or" join without
# starting a clause; the others start one).
PIECE_BREAK = re.compile(r"\s+\b(?:and|or)\b\s+|\s+\b(while|when|then)\b\s+", re.IGNORECASE)
# A part that starts with one of these (or holds a verb below) is a clause of its own and does not
# inherit the negation of the part before it; "weight decay or early stopping" after "don't use
# dropout," does.
SUBJECT_STARTS = frozenset({
    "it", "its", "the", "this", "that", "these", "those", "they", "their", "there", "a", "an",
    "each", "every", "all", "we", "you", "i", "he", "she", "his", "her", "our", "your", "my",
    "one"
})  # fmt: skip
FINITE_VERBS = frozenset({
    "is", "are", "was", "were", "has", "have", "had", "does", "do", "did", "can", "could",
    "will", "would", "should", "may", "might", "must"
})  # fmt: skip
# A relative clause that carries the negation starts at the last of these before the cue.
RELATIVE_START = re.compile(
    r"\b(?:that|which|who|it|they|we|you|i|the model|the network|the encoder)\b", re.IGNORECASE
)
# "and" or "or" left at the start of a part once a comma has cut it off.
JOINER = re.compile(r"^\s*(?:and|or)\s+", re.IGNORECASE)
# Abbreviations spelled out first, so that their dots do not end a sentence.
ABBREVIATIONS = {"e.g.": "for example", "i.e.": "that is", "etc.": "and so on", "vs.": "versus"}
WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][a-z]+)?")  # a word, with its "'s" or "n't" kept on


@dataclass(frozen=True)
class Clause:
    """A stretch of the learner's answer that can carry one claim."""

    text: str
    negated: bool


@dataclass(frozen=True)
class ConceptVerdict:
    """How one checklist concept was judged, with the learner's words that decided it.

    `evidence` is the clause that earned the concept. When none did, `refused_clause` is the
    closest clause that was turned away: because it negates the concept (`negated`), or because
    it is closer to `misconception`, one of the prompt's misconceptions, than to the concept.
    """

    name: str
    credited: bool
    evidence: str | None = None
    similarity: float = 0.0
    refused_clause: str | None = None
    negated: bool = False
    misconception: str | None = None

    @property
    def reason(self) -> str:
        """One line for the page: what earned the concept, or why it was not credited."""
        if self.credited:
            return f"found in: “{self.evidence}”"
        if self.negated:
            return f"not credited: “{self.refused_clause}” says the opposite"
        if self.misconception:
            return (
                f"not credited: “{self.refused_clause}” matches the misconception "
                f"“{self.misconception}”"
            )
        return "not found"


@dataclass(frozen=True)
class FreeTextResult:
    """A graded free-text answer: every concept's verdict, or a message when none was judged."""

    question_id: str
    verdicts: tuple[ConceptVerdict, ...]
    message: str | None = None

    @property
    def found(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verdicts if v.credited)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verdicts if not v.credited)

    @property
    def points(self) -> int:
        return len(self.found)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def share(self) -> float:
        return self.points / self.total if self.total else 0.0

    @property
    def passed(self) -> bool:
        """At least PASS_SHARE of the concepts credited; what progress records as 'correct'."""
        return self.share >= PASS_SHARE

    @property
    def score(self) -> str:
        """The grade as the page shows it, e.g. '3 of 5 concepts'."""
        return f"{self.points} of {self.total} concepts"

    def report_lines(self) -> list[str]:
        """The grade as text: the score, the verdict, the message, then every concept."""
        verdict = "passed" if self.passed else "not passed"
        needed = next(n for n in range(self.total + 1) if n / self.total >= PASS_SHARE)
        lines = [f"{self.question_id}: {self.score}, {verdict} ({needed} needed)"]
        if self.message:
            lines.append(self.message)
        for verdict in self.verdicts:
            mark = "+" if verdict.credited else "-"
            lines.append(f"  {mark} {verdict.name}: {verdict.reason}")
        return lines

    def to_json(self) -> dict:
        """The command line's `--json` shape: prompt, score, total, passed and the concepts."""
        return {
            "prompt": self.question_id,
            "score": self.points,
            "total": self.total,
            "passed": self.passed,
            "concepts": [
                {"name": v.name, "credited": v.credited, "evidence": v.evidence}
                for v in self.verdicts
            ],
        }


@cache
def sentence_encoder():
    """The bundled all-MiniLM-L6-v2 as a sentence encoder, loaded once per process on the CPU.

    Grading one answer embeds a dozen short clauses, which the CPU does in milliseconds; a GPU
    would only add a transfer, and the training process may be using it.
    """
    from sentence_transformers import SentenceTransformer

    from bertviz_lib.model.backbones import bundled_path

    return SentenceTransformer(
        str(bundled_path()),
        device="cpu",
        local_files_only=True,
        trust_remote_code=False,  # as every loader in this project: no code runs from a folder
        model_kwargs={"use_safetensors": True},
    )


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length sentence vectors, one row per text, so a dot product is a cosine."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = sentence_encoder().encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=256)
def statement_vectors(concept: ChecklistConcept) -> np.ndarray:
    """The concept's reference statements embedded once per process."""
    return embed(list(concept.statements))


@lru_cache(maxsize=64)
def model_answer_vector(answer: str) -> np.ndarray:
    return embed([answer])[0]


def grade_free_text(question: Question, text: str) -> FreeTextResult:
    """Grade a free-text answer concept by concept against the question's checklist."""
    if question.kind != "free_text":
        raise ValueError(f"'{question.id}' is a {question.kind} item, not a free-text prompt.")
    text = (text or "").strip()
    refusal = _structure_refusal(text)
    clauses = clauses_of(text) if refusal is None else []
    if refusal is None:
        answer_vector, *clause_vectors = embed([text, *(c.text for c in clauses)])
        if float(answer_vector @ model_answer_vector(question.answer)) < TOPIC_SIMILARITY:
            refusal = OFF_TOPIC_MESSAGE
    if refusal is not None:
        verdicts = tuple(ConceptVerdict(c.name, False) for c in question.checklist)
        return FreeTextResult(question.id, verdicts, refusal)
    vectors = np.stack(clause_vectors) if clause_vectors else np.zeros((0, 384), np.float32)
    wrong = prompt_misconceptions(question)
    verdicts = tuple(_verdict(c, clauses, vectors, wrong) for c in question.checklist)
    return FreeTextResult(question.id, verdicts)


def _structure_refusal(text: str) -> str | None:
    """Why the answer cannot be graded before reading it: empty, or a list of words."""
    if len(words_of(text)) < MIN_UNIT_WORDS:
        return EMPTY_MESSAGE
    if is_keyword_list(text):
        return KEYWORD_LIST_MESSAGE
    return None


def warm_up(questions: Iterable[Question]) -> None:
    """Load the encoder and embed every free-text prompt's references, so that the first
    learner to press "Score" does not wait for them."""
    for question in questions:
        if question.kind == "free_text":
            model_answer_vector(question.answer)
            prompt_misconceptions(question)
            for concept in question.checklist:
                statement_vectors(concept)


@lru_cache(maxsize=64)
def prompt_misconceptions(question: Question) -> tuple[tuple[str, ...], np.ndarray]:
    """Every misconception listed anywhere on the prompt, embedded once per process.

    A clause that states any of them earns no concept: "[CLS] is placed at the end" is a
    misconception of "placed first", and must not be credited as "stands for the entire text"
    just because that concept's own list does not mention it.
    """
    texts = tuple(dict.fromkeys(m for c in question.checklist for m in c.misconceptions))
    return texts, embed(list(texts))


def _verdict(
    concept: ChecklistConcept,
    clauses: list[Clause],
    vectors: np.ndarray,
    misconceptions: tuple[tuple[str, ...], np.ndarray],
) -> ConceptVerdict:
    statements = statement_vectors(concept)
    texts, every = misconceptions
    own = [texts.index(m) for m in concept.misconceptions]
    to_statements = (vectors @ statements.T).max(axis=1)
    to_misconceptions = vectors @ every.T
    credited: tuple[float, Clause] | None = None
    refused: tuple[float, Clause, str | None] | None = None
    for index, clause in enumerate(clauses):
        near = float(to_statements[index])
        wrong_scores = to_misconceptions[index]
        wrong, own_wrong = float(wrong_scores.max()), float(wrong_scores[own].max())
        close = near >= STATEMENT_SIMILARITY
        says_it = close and near - wrong >= MISCONCEPTION_MARGIN
        matched = None if says_it else texts[int(wrong_scores.argmax())]
        if says_it and not clause.negated:
            if credited is None or near > credited[0]:
                credited = (near, clause)
            continue
        if close:  # negated (it says the opposite), or nearer a misconception than the concept
            closeness, matched = near, None if clause.negated else matched
        elif own_wrong >= STATEMENT_SIMILARITY and own_wrong > near - MISCONCEPTION_MARGIN:
            closeness, matched = own_wrong, texts[own[int(wrong_scores[own].argmax())]]
        else:
            continue
        if refused is None or closeness > refused[0]:
            refused = (closeness, clause, matched)
    if credited is not None:
        return ConceptVerdict(concept.name, True, credited[1].text, round(credited[0], 3))
    if refused is not None:
        closeness, clause, matched = refused
        return ConceptVerdict(
            concept.name,
            False,
            similarity=round(closeness, 3),
            refused_clause=clause.text,
            negated=clause.negated,
            misconception=matched,
        )
    return ConceptVerdict(concept.name, False)


def words_of(text: str) -> list[str]:
    return WORD.findall(text)


def is_keyword_list(text: str) -> bool:
    """True for words with no sentence structure: few function words, or short listed pieces.

    "first summary attention head classifier" has no function word at all; "position 0,
    aggregate, attends to every token, head" has some, but its pieces are a word or two long.
    """
    words = [w.lower() for w in words_of(text)]
    function_share = sum(w in FUNCTION_WORDS for w in words) / len(words)
    if function_share < KEYWORD_FUNCTION_SHARE:
        return True
    pieces = [p for p in re.split(r"[,;\n]|\s[-*\u2022]\s", text) if words_of(p)]
    if len(pieces) < 3:
        return False
    lengths = sorted(len(words_of(p)) for p in pieces)
    return lengths[len(lengths) // 2] <= KEYWORD_SEGMENT_WORDS


def clauses_of(text: str) -> list[Clause]:
    """Every stretch of the answer that can carry a claim: sentences, their clauses, and pieces.

    The three sizes overlap on purpose: a short sentence is best judged whole, a long one by its
    parts. A part inherits the negation of the part before it when it is not a clause of its own
    ("don't use dropout, weight decay or early stopping").
    """
    for abbreviation, spelled in ABBREVIATIONS.items():
        text = re.sub(re.escape(abbreviation), spelled, text, flags=re.IGNORECASE)
    found: dict[str, Clause] = {}
    for sentence in SENTENCE_BREAK.split(text):
        sentence = CONTRAST.sub("", BULLET.sub("", sentence)).strip(" ,;:.!?")
        if not sentence:
            continue
        whole = _clause(sentence, inherited=False)
        _keep(found, whole)
        for clause in _parts(sentence, CLAUSE_BREAK) or [whole]:
            _keep(found, clause)
            inherited = clause.negated and not _own_cue(clause.text)
            for piece in _parts(clause.text, PIECE_BREAK, inherited):
                _keep(found, piece)
    return list(found.values())


def _parts(text: str, breaks: re.Pattern, negated_before: bool = False) -> list[Clause]:
    """The text cut at `breaks`; a part after a plain comma or "and" may inherit a negation.

    `negated_before` is a negation the whole text inherited from the part before it, which its
    first part inherits in turn.
    """
    parts: list[Clause] = []
    start, starts_clause, previous = 0, False, negated_before
    for cut in [*breaks.finditer(text), None]:
        piece = JOINER.sub("", text[start : cut.start() if cut else len(text)]).strip(" ,;:.!?")
        if piece:
            inherited = previous and not starts_clause and not _own_clause(piece)
            parts.append(_clause(piece, inherited))
            previous = parts[-1].negated
        if cut is not None:
            start, starts_clause = cut.end(), any(cut.groups())
    return parts if len(parts) > 1 else []


def _own_clause(text: str) -> bool:
    words = [w.lower() for w in words_of(text)]
    return bool(words) and (words[0] in SUBJECT_STARTS or any(w in FINITE_VERBS for w in words))


def _own_cue(text: str) -> bool:
    return bool(NEGATION_CUE.search(NOT_A_NEGATION.sub("", text)))


def _clause(text: str, inherited: bool) -> Clause:
    return Clause(text, inherited or _own_cue(text))


def _keep(found: dict[str, Clause], clause: Clause) -> None:
    """Add the clause (and, when it negates inside a relative clause, its positive head)."""
    if len(words_of(clause.text)) < MIN_UNIT_WORDS or clause.text in found:
        return
    found[clause.text] = clause
    if clause.negated:
        head = _positive_head(clause.text)
        if head is not None and head not in found:
            found[head] = Clause(head, False)


def _positive_head(text: str) -> str | None:
    """The clause without the relative clause that carries the negation, if a claim is left.

    "Score it on examples it has never seen" -> "Score it on examples", and "a model that never
    flags anything is nearly always right" -> "a model is nearly always right": the negation
    belongs to the relative clause, not to the claim. A relative clause ends where a finite verb
    follows the cue; without one it runs to the end of the clause.
    """
    cue = NEGATION_CUE.search(NOT_A_NEGATION.sub(lambda m: " " * len(m.group()), text))
    if cue is None:
        return None
    starts = [m.start() for m in RELATIVE_START.finditer(text, 0, cue.start())]
    if not starts:
        return None
    after = [m for m in WORD.finditer(text, cue.end()) if m.group().lower() in FINITE_VERBS]
    rest = text[after[0].start() :] if after else ""
    head = f"{text[: starts[-1]].strip(' ,;:')} {rest}".strip()
    if len(words_of(head)) < MIN_HEAD_WORDS or NEGATION_CUE.search(head):
        return None
    return head
