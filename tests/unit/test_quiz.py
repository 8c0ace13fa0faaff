"""Learn & Quiz: the bank's schema and coverage, grading by meaning, tests that cannot be passed
by picking the longest option, progress, and questions about a run."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from bertviz_lib import runs
from bertviz_lib.cli import main
from bertviz_lib.config import DataConfig, TrainConfig, help_text
from bertviz_lib.data import DataReport, LabelledData, PreparedData
from bertviz_lib.learn.quiz import (
    CARD_INTERVALS,
    CONCEPTS,
    MASTERY_MIN_ANSWERS,
    REVIEW_GAP,
    SEED_CONCEPTS,
    SKILLS,
    TOPICS,
    BankError,
    Progress,
    Question,
    draw_test,
    grade_choice,
    grade_free_text,
    load_bank,
    parse_bank,
    questions_from_run,
    ready_to_ask,
    score_test,
)
from bertviz_lib.learn.quiz.drawn import GENERATORS
from bertviz_lib.learn.quiz.from_run import NO_MISTAKES, SAME_RECALL, content_word, scientific
from bertviz_lib.learn.quiz.meaning import (
    KEYWORD_LIST_MESSAGE,
    NEGATION_CUE,
    clauses_of,
    is_keyword_list,
)
from bertviz_lib.model.predict import Predictor
from bertviz_lib.runs.training_run import run_training
from tests.helpers import ROOT, prepared, tiny_config, toy

DATA = Path(__file__).resolve().parents[1] / "data"
BANK = load_bank()
NEW_TOPICS = ("roc_pr_auc", "loss_functions", "brier_score", "data_splits", "class_weights",
              "seed_variance")  # fmt: skip
MULTI_STEP = ("loss_curve", "pr_threshold", "training_bug", "confusion_metric")


# --- The bank ---------------------------------------------------------------------------------


def test_the_bank_has_the_counts_the_issue_asks_for():
    choice = BANK.choice_questions
    by_difficulty = Counter(q.difficulty for q in choice)
    assert len(choice) >= 75
    assert by_difficulty["easy"] >= 15 and by_difficulty["medium"] >= 15
    assert by_difficulty["hard"] >= 21
    assert len(BANK.flashcards) >= 12
    assert len(BANK.free_text) >= 6
    assert {q.kind for q in choice} == {"multiple_choice", "code_reading"}


def test_ids_are_unique_and_every_option_says_why_it_is_right_or_wrong():
    ids = [q.id for q in BANK.questions]
    assert len(ids) == len(set(ids))
    for question in BANK.choice_questions:
        assert question.answer in question.options, question.id
        assert len(set(question.options)) == len(question.options), question.id
        assert 3 <= len(question.options) <= 5, question.id
        assert len(question.feedback) == len(question.options), question.id
        assert all(why.strip() for why in question.feedback), question.id
        assert question.why(question.answer).startswith("Right"), question.id
        assert question.solution and question.hint and question.mistakes, question.id


def test_the_right_option_is_strictly_the_longest_in_at_most_30_percent_of_choice_items():
    choice = BANK.choice_questions
    longest = [q.id for q in choice
               if all(len(q.answer) > len(o) for o in q.options if o != q.answer)]  # fmt: skip
    assert len(longest) / len(choice) <= 0.30, (len(longest), len(choice), longest)


def pick_longest(question: Question) -> str:
    """The option a test-taker who knows nothing but length would pick (the first one on ties)."""
    longest = max(len(option) for option in question.options)
    return next(option for option in question.options if len(option) == longest)


def test_always_picking_the_longest_option_scores_at_most_4_of_10_over_1000_tests():
    scores = []
    for seed in range(1000):
        test = draw_test(BANK.questions, seed=seed)
        assert len(test) == 10
        scores.append(sum(pick_longest(q) == q.answer for q in test))
    assert np.mean(scores) <= 4.0, np.mean(scores)


def test_every_concept_is_taught_by_at_least_two_questions():
    coverage = BANK.concept_coverage()
    assert set(coverage) == set(CONCEPTS)
    thin = {tag: ids for tag, ids in coverage.items() if len(ids) < 2}
    assert not thin, thin
    assert set(SEED_CONCEPTS) <= set(CONCEPTS)
    assert set(NEW_TOPICS) <= set(CONCEPTS)
    assert {q.topic for q in BANK.questions} == set(TOPICS)


def test_at_least_15_hard_items_take_several_steps_of_the_four_kinds_the_issue_names():
    hard = [q for q in BANK.choice_questions if q.difficulty == "hard" and q.skill in MULTI_STEP]
    assert len(hard) >= 15, [q.id for q in hard]
    assert {q.skill for q in hard} == set(MULTI_STEP)
    assert set(SKILLS) >= set(MULTI_STEP)
    drawn_matrix = [q for q in hard if q.skill == "confusion_metric" and q.origin == "drawn"]
    assert len(drawn_matrix) >= 2


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_a_drawn_question_draws_new_numbers_per_attempt_and_stays_well_formed(name):
    made = [GENERATORS[name](random.Random(seed)) for seed in range(40)]
    for question in made:
        assert question.id == name and question.origin == "drawn"
        assert question.answer in question.options
        assert len(set(question.options)) == len(question.options) >= 3
        assert question.why(question.answer).startswith("Right")
    assert len({q.prompt for q in made}) >= 10  # the numbers change from attempt to attempt
    assert GENERATORS[name](random.Random(7)) == GENERATORS[name](random.Random(7))


def test_the_precision_drawn_from_a_matrix_is_the_column_share_of_the_diagonal():
    for seed in range(20):
        question = GENERATORS["drawn-precision-from-matrix"](random.Random(seed))
        name = re.search(r"precision of '(\w+)'", question.prompt).group(1)
        rows = dict(re.findall(r"(\w+): (\d+, \d+, \d+)", question.prompt))
        matrix = np.array([[int(n) for n in rows[c].split(", ")] for c in rows])
        column = list(rows).index(name)
        expected = matrix[column, column] / matrix[:, column].sum()
        assert question.answer == f"{expected:.2f}"


def test_every_draw_shuffles_the_options_reproducibly_by_seed():
    first = draw_test(BANK.questions, seed=11)
    again = draw_test(BANK.questions, seed=11)
    assert [q.options for q in first] == [q.options for q in again]
    bank_order = {q.id: q.options for q in BANK.choice_questions}
    moved = sum(q.options != bank_order[q.id] for q in first if q.origin == "bank")
    assert moved >= 5  # file order is not what the learner sees
    question = BANK.get("cls-position")
    orders = {ready_to_ask(question, random.Random(seed)).options for seed in range(30)}
    assert len(orders) > 10
    for shown in orders:
        shuffled = ready_to_ask(question, random.Random(0))
        assert all(shuffled.why(o) == question.why(o) for o in shown)  # feedback travels along


def test_free_text_checklists_have_four_to_six_concepts_with_positive_statements():
    for question in BANK.free_text:
        assert 4 <= len(question.checklist) <= 6, question.id
        for concept in question.checklist:
            assert len(concept.statements) >= 3 and concept.misconceptions, concept.name
            negated = [s for s in concept.statements if NEGATION_CUE.search(s)]
            assert not negated, negated  # a negated clause is never credited, so nor is this


def test_the_overfitting_prompt_scores_how_you_would_notice_it():
    names = [c.name for c in BANK.get("explain-overfitting").checklist]
    assert "how you notice it" in names


def test_the_content_fixes_of_the_issue_are_in_the_bank_the_learn_page_and_the_settings():
    texts = BANK_TEXT + (ROOT / "app_pages" / "learn.py").read_text()
    for wrong in ("doubles the steps", "only attribution answers", "climbs from 0",
                  "MSE is not a classification metric"):  # fmt: skip
        assert wrong not in texts, wrong
    assert "from peak/N" in help_text(TrainConfig, "warmup_ratio")  # as the schedule's code does
    assert "Brier" in " ".join(o for o in BANK.get("metrics-not-mse").options)
    assert "sentiment" not in BANK.get("metrics-not-mse").prompt  # nominal labels, not ordinal
    assert "128" in " ".join(BANK.get("ig-convergence-delta").solution)
    assert "must themselves be checked" in BANK.get("card-attention-attribution").answer
    assert "on this set" in BANK.get("calibration-ece").answer
    assert "regression" in BANK.get("head-num-labels-one").answer
    diverging = [q for q in BANK.questions if "too-high" in q.id or "diverg" in q.id]
    assert len(diverging) >= 2
    assert all("overfitting" not in q.concepts for q in diverging)  # the problem is divergence


BANK_TEXT = (ROOT / "bertviz_lib" / "learn" / "quiz" / "bank.yaml").read_text()


def test_live_links_point_at_existing_pages():
    links = [q.live for q in BANK.questions if q.live is not None]
    assert len(links) >= 20
    for link in links:
        assert (ROOT / link.page).is_file(), link.page
        assert link.label.strip()


def test_only_code_reading_items_carry_code():
    for question in BANK.questions:
        if question.code is not None or question.snippet is not None:
            assert question.kind == "code_reading", question.id
    assert sum(q.snippet is not None for q in BANK.questions) >= 10


def item(**overrides) -> dict:
    base = {
        "id": "sample",
        "topic": "head",
        "concepts": ["logits_argmax"],
        "difficulty": "easy",
        "level": "beginner",
        "kind": "multiple_choice",
        "prompt": "Which index?",
        "options": [{"text": t, "why": f"because {t}"} for t in ("0", "1", "2")],
        "answer": "2",
        "solution": ["Step."],
        "hint": "Hint.",
        "mistakes": ["Mistake."],
    }
    return {**base, **overrides}


def test_a_valid_item_parses_into_a_question_with_feedback_per_option():
    bank = parse_bank({"questions": [item(live={"page": "app_pages/learn.py", "label": "Go"})]})
    question = bank.get("sample")
    assert question.answer_index == 2 and question.live.page == "app_pages/learn.py"
    assert question.why("1") == "because 1"
    with pytest.raises(ValueError, match="not one of the options"):
        question.why("7")
    with pytest.raises(KeyError, match="nothing"):
        bank.get("nothing")


def test_every_schema_problem_is_reported_at_once():
    broken = [
        item(id="a", answer="7"),
        item(id="b", concepts=["not_a_concept"]),
        item(id="c", difficulty="trivial"),
        item(
            id="d",
            kind="free_text",
            options=None,
            checklist=[{"name": "x", "statements": ["x"], "misconceptions": ["y"]}] * 3,
        ),
        item(id="e", live={"page": "../secrets.py", "label": "x"}),
        item(id="e"),
        item(id="f", options=["0", "1", "2"]),
        item(id="g", skill="guessing"),
    ]
    broken[3].pop("options")
    with pytest.raises(BankError) as error:
        parse_bank({"questions": broken})
    message = str(error.value)
    for expected in (
        "'answer' must be exactly one of the options",
        "unknown concept tag(s) ['not_a_concept']",
        "'difficulty' is 'trivial'",
        "'checklist' must list 4 to 6 concepts",
        "'live' needs a 'page'",
        "the id 'e' is used more than once",
        "each option needs a 'text' and a 'why'",
        "'skill' is 'guessing'",
    ):
        assert expected in message
    with pytest.raises(BankError, match="non-empty 'questions' list"):
        parse_bank({"items": []})


def test_a_bank_file_that_is_not_yaml_fails_with_its_name(tmp_path):
    path = tmp_path / "bank.yaml"
    path.write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(BankError, match="bank.yaml"):
        load_bank(path)


# --- Grading choices and tests ------------------------------------------------------------------


def test_a_choice_is_graded_by_option_text_or_index_with_feedback_for_every_option():
    question = BANK.get("argmax-pick-class")
    assert grade_choice(question, "2").correct
    assert grade_choice(question, question.answer_index).correct
    wrong = grade_choice(question, "3.1")
    assert not wrong.correct and wrong.answer == "2" and wrong.solution == question.solution
    assert dict(wrong.feedback)["3.1"] == question.why("3.1")
    assert [option for option, _ in wrong.feedback] == list(question.options)
    assert not grade_choice(question, None).correct
    with pytest.raises(ValueError, match="not one of the options"):
        grade_choice(question, "two")
    with pytest.raises(ValueError, match="outside"):
        grade_choice(question, 9)
    with pytest.raises(ValueError, match="not a choice question"):
        grade_choice(BANK.flashcards[0], "x")


def test_a_test_draws_three_easy_four_medium_three_hard_reproducibly():
    test = draw_test(BANK.questions, seed=7)
    assert len(test) == 10 and len({q.id for q in test}) == 10
    assert [q.difficulty for q in test] == ["easy"] * 3 + ["medium"] * 4 + ["hard"] * 3
    assert all(q.is_choice for q in test)
    assert draw_test(BANK.questions, seed=7) == test
    others = {tuple(q.id for q in draw_test(BANK.questions, seed=s)) for s in range(5)}
    assert len(others) > 1


def test_a_filtered_test_keeps_its_topic_and_fills_short_difficulties():
    test = draw_test(BANK.questions, seed=1, topic="explanations")
    pool = [q for q in BANK.choice_questions if q.topic == "explanations"]
    assert {q.topic for q in test} == {"explanations"}
    assert len(test) == min(10, len(pool))
    beginners = draw_test(BANK.questions, seed=1, level="beginner")
    assert len(beginners) == 10 and {q.level for q in beginners} == {"beginner"}
    both = draw_test(BANK.questions, seed=1, topic=["head", "inputs"], level="advanced")
    assert {q.topic for q in both} <= {"head", "inputs"}
    assert {q.level for q in both} == {"advanced"}
    assert draw_test(BANK.questions, seed=1, topic="no-such-topic") == []


def test_a_marked_test_has_a_per_topic_breakdown_and_the_wrong_answers():
    test = draw_test(BANK.questions, seed=3)
    answers = {q.id: q.answer for q in test[:6]}
    wrong = test[6]
    answers[wrong.id] = next(o for o in wrong.options if o != wrong.answer)
    score = score_test(test, answers)  # test[7:] left unanswered
    assert (score.correct, score.total) == (6, 10) and score.summary == "6 of 10 right (60%)"
    assert sum(t.total for t in score.by_topic.values()) == 10
    assert sum(t.correct for t in score.by_topic.values()) == 6
    for topic, topic_score in score.by_topic.items():
        expected = sum(1 for q in test[:6] if q.topic == topic)
        assert topic_score.correct == expected
    assert [w.question.id for w in score.wrong] == [q.id for q in test[6:]]
    assert score.wrong[0].chosen != wrong.answer and score.wrong[0].solution == wrong.solution
    assert score.wrong[1].chosen is None
    assert set(score.topic_titles()) <= set(TOPICS.values())


# --- Grading free text by meaning ----------------------------------------------------------------


def test_clauses_carry_their_negation_and_drop_the_rejected_half_of_a_contrast():
    clauses = {c.text: c.negated for c in clauses_of(
        "Don't use dropout, weight decay or early stopping. Use a high learning rate rather "
        "than a small learning rate. It is not a real word, so its vector gathers context."
    )}  # fmt: skip
    assert clauses["Don't use dropout"] and clauses["weight decay or early stopping"]
    assert clauses["weight decay"] and clauses["early stopping"]
    assert clauses["Use a high learning rate"] is False
    assert not any("small learning rate" in text for text in clauses)
    assert clauses["It is not a real word"] and clauses["its vector gathers context"] is False


def test_a_negation_inside_a_relative_clause_leaves_the_claim_positive():
    clauses = {c.text: c.negated for c in clauses_of(
        "Score it on examples it has never seen. A model that never flags anything is right."
    )}  # fmt: skip
    assert clauses["Score it on examples"] is False
    assert clauses["A model is right"] is False
    no_hyphen = clauses_of("Start from a no-information input.")
    assert [c.negated for c in no_hyphen] == [False]
    assert clauses_of("F1 is only high when neither is low.")[0].negated is False


@pytest.mark.parametrize(
    "text, is_list",
    [
        ("first summary attention head classifier whole text context logits", True),
        ("position 0, aggregate, attends to every token, head", True),
        ("- dropout\n- weight decay\n- early stopping", True),
        ("It goes first and sums up the sentence for the classifier.", False),
        ("Use a small learning rate, train few epochs, and keep dropout on.", False),
    ],
)
def test_a_list_of_words_is_told_apart_from_sentences(text, is_list):
    assert is_keyword_list(text) is is_list


def test_a_keyword_list_scores_zero_with_a_message():
    result = grade_free_text(
        BANK.get("explain-cls"), "first summary attention head classifier whole text context logits"
    )
    assert result.points == 0 and not result.passed
    assert result.message == KEYWORD_LIST_MESSAGE


def test_a_negated_answer_is_refused_and_says_which_misconception_or_negation_it_hit():
    result = grade_free_text(
        BANK.get("explain-cls"),
        "[CLS] is added at the end, not the start. It does not use attention and is not a "
        "summary of the text, and the classifier never reads it.",
    )
    assert result.points == 0 and not result.passed and result.message is None
    verdicts = {v.name: v for v in result.verdicts}
    first = verdicts["placed first"]
    assert first.misconception and "end" in first.misconception
    assert "matches the misconception" in first.reason
    assert verdicts["read by the head"].negated
    assert verdicts["read by the head"].refused_clause == "the classifier never reads it"
    assert "says the opposite" in verdicts["read by the head"].reason


def test_a_paraphrase_with_none_of_the_checklist_words_passes_and_cites_its_evidence():
    result = grade_free_text(
        BANK.get("explain-cls"),
        "A special marker is placed ahead of the words, in the leading slot. Standing for no "
        "word of its own, it mixes in information from all the other words in every layer, so "
        "after fine-tuning its vector condenses the meaning of the complete passage. The final "
        "dense layer maps that one vector to a score per class.",
    )
    assert result.passed and result.points == 4
    for verdict in result.verdicts:
        assert verdict.evidence and verdict.similarity > 0.5


def test_the_json_shape_is_exactly_the_one_the_issue_names():
    result = grade_free_text(BANK.get("explain-overfitting"), "Keep dropout on.")
    payload = result.to_json()
    assert list(payload) == ["prompt", "score", "total", "passed", "concepts"]
    assert payload["prompt"] == "explain-overfitting" and payload["total"] == 6
    assert all(list(c) == ["name", "credited", "evidence"] for c in payload["concepts"])
    with pytest.raises(ValueError, match="not a free-text prompt"):
        grade_free_text(BANK.choice_questions[0], "text")


def labelled(half: str) -> list[dict]:
    return yaml.safe_load((DATA / f"free_text_{half}.yaml").read_text())["answers"]


SHOULD_PASS = ("good", "paraphrase")
KINDS = ("good", "paraphrase", "keyword_list", "negated", "off_topic", "wrong_claim")


@pytest.fixture(scope="module")
def graded() -> dict[str, list[tuple[dict, object]]]:
    """Every labelled answer of both halves, graded once for the tests below."""
    return {
        half: [(a, grade_free_text(BANK.get(a["prompt"]), a["text"])) for a in labelled(half)]
        for half in ("tuning", "held_out")
    }


def test_the_labelled_set_holds_150_answers_of_every_kind_over_every_prompt_in_two_halves():
    tuning, held_out = labelled("tuning"), labelled("held_out")
    assert len(tuning) + len(held_out) >= 150
    for half in (tuning, held_out):
        assert {a["prompt"] for a in half} == {q.id for q in BANK.free_text}
        assert {a["kind"] for a in half} == set(KINDS)
    assert not {a["text"] for a in tuning} & {a["text"] for a in held_out}


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", re.sub(r"['\u2019`]", "", text.lower()))


def singular(word: str) -> set[str]:
    forms = {word}
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])
    return forms


def says(text: str, phrase: str) -> bool:
    """The phrase's words in a row, plurals and hyphens ignored ("pre-trained" = "pretrained")."""
    words, wanted = words_of(text), words_of(phrase)
    joined = "".join(wanted)
    for start in range(len(words)):
        window = words[start : start + len(wanted)]
        if len(window) == len(wanted) and all(
            singular(a) & singular(b) for a, b in zip(window, wanted, strict=True)
        ):
            return True
        for size in range(1, len(wanted) + 2):
            if singular("".join(words[start : start + size])) & singular(joined):
                return True
    return False


def test_the_paraphrases_use_none_of_the_checklist_words_a_phrase_grader_looked_for():
    checklist_words = yaml.safe_load((DATA / "free_text_checklist_words.yaml").read_text())
    assert says("The pre trained weights", "pre-trained") and says("two heads", "head")
    for half in ("tuning", "held_out"):
        for answer in labelled(half):
            if answer["kind"] == "paraphrase":
                used = [p for p in checklist_words[answer["prompt"]] if says(answer["text"], p)]
                assert not used, (answer["prompt"], used)


@pytest.mark.slow  # the sentence encoder reads all 168 answers
@pytest.mark.parametrize("half", ["tuning", "held_out"])
def test_the_grader_meets_the_issue_targets_on_each_half_of_the_labelled_set(graded, half):
    right = Counter()
    total = Counter()
    for answer, result in graded[half]:
        total[answer["kind"]] += 1
        right[answer["kind"]] += result.passed == (answer["kind"] in SHOULD_PASS)
    for kind in ("keyword_list", "negated", "off_topic"):
        assert right[kind] == total[kind], (kind, right[kind], total[kind])
    assert right["paraphrase"] / total["paraphrase"] >= 0.85
    assert right["good"] / total["good"] >= 0.85


def test_every_model_answer_passes_with_every_concept_credited():
    for question in BANK.free_text:
        result = grade_free_text(question, question.answer)
        assert result.passed, (question.id, result.missing)


def test_quiz_grade_on_the_command_line_prints_the_grade_or_its_json(capsys):
    arguments = ["quiz", "grade", "--prompt", "explain-cls", "--answer"]
    assert main([*arguments, "first summary attention head classifier", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["prompt"] == "explain-cls" and payload["score"] == 0
    assert payload["passed"] is False and payload["total"] == 4
    assert main([*arguments, "[CLS] is placed at the end of the input."]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("explain-cls: 0 of 4 concepts, not passed (3 needed)")
    assert "matches the misconception" in printed
    assert main(["quiz", "grade", "--prompt", "no-such-prompt", "--answer", "x"]) == 2
    assert "explain-cls" in capsys.readouterr().err


# --- Progress ---------------------------------------------------------------------------------


def questions_in(topic: str, count: int) -> list[Question]:
    return [q for q in BANK.choice_questions if q.topic == topic][:count]


def test_a_topic_is_mastered_at_80_percent_of_recent_answers_with_enough_answers():
    progress = Progress()
    first, second, third, fourth, fifth = questions_in("head", 5)
    progress.record(first, True)
    progress.record(second, True)
    assert progress.mastered_topics() == []  # two answers are too few
    progress.record(third, True)
    assert MASTERY_MIN_ANSWERS == 3 and progress.mastered_topics() == ["head"]
    progress.record(fourth, False)  # 3 of 4 = 75%
    assert progress.mastered_topics() == []
    progress.record(fifth, True)  # 4 of 5 = 80%
    assert progress.mastered_topics() == ["head"]
    accuracy = progress.topic_accuracy()["head"]
    assert (accuracy.correct, accuracy.total) == (4, 5)


def test_early_mistakes_stop_counting_once_the_learner_catches_up():
    progress = Progress()
    questions = questions_in("evaluation", 8)
    for question in questions[:3]:
        progress.record(question, False)
    for question in questions[3:8]:
        progress.record(question, True)
    assert progress.topic_accuracy()["evaluation"].accuracy == 5 / 8
    assert progress.mastered_topics() == ["evaluation"]  # the latest five are all right


def test_one_answer_counts_per_question_per_attempt():
    progress = Progress()
    question = questions_in("head", 1)[0]
    assert progress.record(question, True, attempt="practice-0")
    assert not progress.record(question, True, attempt="practice-0")  # "Check" clicked again
    assert progress.answered == 1
    assert progress.record(question, False, attempt="practice-1")
    assert progress.answered == 2
    test = draw_test(BANK.questions, seed=2)
    score = score_test(test, {q.id: q.answer for q in test})
    assert progress.record_test(test, score, "test-2")
    assert not progress.record_test(test, score, "test-2")  # "Mark my test" clicked again
    assert progress.answered == 12 and len(progress.tests) == 1


def test_a_wrong_answer_comes_back_after_a_few_other_questions():
    pool = BANK.choice_questions
    progress = Progress()
    missed = pool[0]
    progress.record(missed, False)
    assert progress.due_for_review() == []
    shown = []
    for _ in range(REVIEW_GAP):
        question = progress.next_question(pool, seed=0)
        assert question.id != missed.id
        shown.append(question.id)
        progress.record(question, True)
    assert len(set(shown)) == REVIEW_GAP  # unseen questions first, no repeats
    assert progress.due_for_review() == [missed.id]
    assert progress.next_question(pool, seed=0).id == missed.id
    progress.record(missed, True)
    assert progress.due_for_review() == [] and missed.id not in progress.review_due


def test_practice_serves_every_due_review_so_the_queue_empties_whatever_the_topic():
    progress = Progress()
    missed = questions_in("explanations", 2)
    for question in missed:
        progress.record(question, False)
    progress.record(BANK.free_text[0], False)  # nothing can serve free text again: not queued
    progress.record(BANK.flashcards[0], False)
    assert set(progress.review_due) == {q.id for q in missed}
    head_only = questions_in("head", 10)
    reviewable = [q for q in BANK.choice_questions if q.reviewable]
    served = []
    for _ in range(12):
        question = progress.next_question(head_only, seed=1, reviews=reviewable)
        served.append(question.id)
        progress.record(question, True)
    assert {q.id for q in missed} <= set(served)
    assert progress.due_for_review() == [] and progress.review_due == {}


def test_flashcards_come_back_later_when_known_and_soon_when_not():
    progress = Progress()
    cards = BANK.flashcards[:6]
    first = progress.next_card(cards)
    assert first.id == cards[0].id  # unseen cards in bank order
    progress.rate_card(first, knew=False)
    assert progress.cards[first.id].box == 0
    assert progress.next_card(cards).id == cards[1].id
    progress.rate_card(cards[1], knew=True)
    assert progress.cards_due(cards) == [first.id]  # one card rated since: due again
    assert progress.next_card(cards).id == first.id
    progress.rate_card(first, knew=True)
    progress.rate_card(first, knew=True)
    state = progress.cards[first.id]
    assert state.box == 2 and state.due == progress.cards_rated + CARD_INTERVALS[2]
    assert first.id not in progress.cards_due(cards)
    assert progress.answered == 0  # self-ratings are not graded answers


def test_a_self_assessment_is_recorded_apart_and_never_counts_towards_mastery():
    progress = Progress()
    question = BANK.get("explain-cls")
    progress.record(question, False, "explain-1")
    progress.record_self_assessment(question, "explain-1", automatic=1, claimed=4)
    progress.record_self_assessment(question, "explain-1", automatic=1, claimed=3)
    assert [(s.claimed, s.automatic, s.total) for s in progress.self_assessments] == [(3, 1, 4)]
    assert [a.correct for a in progress.attempts] == [False]
    assert progress.mastered_topics() == []


def test_next_question_is_stable_across_reruns_and_prefers_unmastered_topics():
    progress = Progress()
    for question in questions_in("head", 3):
        progress.record(question, True)
    picks = {progress.next_question(BANK.choice_questions, seed=4).id for _ in range(3)}
    assert len(picks) == 1
    assert BANK.get(picks.pop()).topic != "head"
    assert Progress().next_question([], seed=0) is None


def test_a_recorded_test_feeds_history_and_survives_a_round_trip():
    test = draw_test(BANK.questions, seed=2)
    score = score_test(test, {q.id: q.answer for q in test[:8]})
    progress = Progress()
    progress.record_test(test, score, "test-2")
    progress.rate_card(BANK.flashcards[0], knew=True)
    progress.record_self_assessment(BANK.free_text[0], "explain-0", 2, 4)
    assert progress.score_history() == [80.0] and progress.answered == 10
    assert set(progress.review_due) == {q.id for q in test[8:]}
    copy = Progress.from_dict(json.loads(json.dumps(progress.to_dict())))
    assert copy == progress


# --- Questions about a run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory) -> runs.Run:
    """A run that learns the toy set (so attributions are not all ~0) in about a second.

    Freezing the embeddings skips Adam on the 30,522-row embedding matrix, most of the time of a
    tiny run; the layer above still learns the toy words.
    """
    root = tmp_path_factory.mktemp("quiz-runs")
    config = tiny_config(tiny_model_dir, epochs=8, freeze_layers=1)
    return run_training(prepared(), DataConfig(), config, runs.create_run(root))


def by_name(run: runs.Run, questions: list[Question]) -> dict[str, Question]:
    """Run questions keyed by generator: ids are run-<run id>-<name>."""
    prefix = f"run-{run.run_id}-"
    assert all(q.id.startswith(prefix) for q in questions)
    return {q.id.removeprefix(prefix): q for q in questions}


def check_well_formed(questions: list[Question]) -> None:
    for question in questions:
        assert question.answer in question.options, question.id
        assert len(set(question.options)) == len(question.options) >= 2, question.id
        assert len(question.feedback) == len(question.options) and question.origin == "run"
        assert question.solution and question.hint and question.mistakes
        assert (ROOT / question.live.page).is_file()


def recall_by_class(table: pd.DataFrame) -> dict[str, float]:
    result = {}
    for name in sorted(set(table["true_label"])):
        rows = table[table["true_label"] == name]
        result[name] = float((rows["predicted_label"] == name).mean())
    return result


def gradient_x_input_words(run: runs.Run, text: str) -> dict[str, float]:
    """Gradient × input computed here by hand, not through explain.py."""
    predictor = Predictor.from_run(run, device="cpu")
    model, tokenizer = predictor.model, predictor.tokenizer
    encoded = tokenizer(text, return_tensors="pt")
    embeddings = model.get_input_embeddings()(encoded["input_ids"]).detach().requires_grad_()
    logits = model(inputs_embeds=embeddings, attention_mask=encoded["attention_mask"]).logits
    probabilities = torch.softmax(logits, dim=-1)[0]
    probabilities[int(probabilities.argmax())].backward()
    scores = (embeddings.grad * embeddings).sum(dim=-1)[0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    return {t: s for t, s in zip(tokens, scores, strict=True) if t not in ("[CLS]", "[SEP]")}


def test_a_trained_run_gives_questions_whose_answers_match_its_files(trained_run):
    questions = by_name(trained_run, questions_from_run(trained_run, seed=0))
    assert {"learning-rate", "confusion-count", "warmup-steps"} <= set(questions)
    check_well_formed(list(questions.values()))
    table = pd.read_csv(trained_run.path / "predictions.csv", dtype=str, keep_default_na=False)

    rate = json.loads((trained_run.path / "config.json").read_text())["train"]["learning_rate"]
    assert rate == 3e-3 and questions["learning-rate"].answer.startswith("Above the usual range")
    assert "3e-3" in questions["learning-rate"].solution[0]

    start = next(e for e in trained_run.events() if e["event"] == "start")
    assert questions["warmup-steps"].answer == str(int(0.1 * start["total_steps"]))

    asked = re.search(
        r"true class is '(\w+)', how many .* as '(\w+)'", questions["confusion-count"].prompt
    )
    true, predicted = asked.groups()
    count = int(((table["true_label"] == true) & (table["predicted_label"] == predicted)).sum())
    assert questions["confusion-count"].answer == str(count)
    assert f"holds {count}" in questions["confusion-count"].solution[1]


def stub_explanation(monkeypatch, attributions: dict[str, float]) -> None:
    """Make the top-word question read these word attributions instead of a model's."""
    import bertviz_lib.explain

    explanation = SimpleNamespace(
        words=list(attributions),
        word_attributions=list(attributions.values()),
        label="negative",
        target_probability=0.91,
    )
    monkeypatch.setattr(bertviz_lib.explain, "explain", lambda *args, **kwargs: explanation)


def top_word_question(tmp_path) -> Question | None:
    """The question a handmade run gets when every sentence is explained by the stub."""
    run = write_run(tmp_path, handmade_predictions(), 5e-5)
    return by_name(run, questions_from_run(run, predictor=object())).get("top-token")


def test_the_top_word_question_names_its_method_and_leaves_out_stop_words(tmp_path, monkeypatch):
    words = {"the": 2.0, "plot": 0.1, ",": 1.5, "was": 0.4, "dreadful": 0.9, "and": 0.2,
             "dull": 0.3, "acting": -0.2}  # fmt: skip
    stub_explanation(monkeypatch, words)
    question = top_word_question(tmp_path)
    assert "According to gradient × input" in question.prompt
    assert question.answer == "dreadful"
    assert set(question.options) <= {"plot", "dreadful", "dull", "acting"}
    assert "+0.9" in question.solution[1] and "'dull' with +0.3" in question.solution[1]


def test_the_top_word_question_is_not_asked_without_a_clear_winner(tmp_path, monkeypatch):
    stub_explanation(monkeypatch, {"the": 0.1, "plot": 0.1, "was": 0.1, "dreadful": 0.5,
                                   "and": 0.0, "dull": 0.45})  # fmt: skip
    assert top_word_question(tmp_path) is None


def three_content_words() -> PreparedData:
    """Sentences like "the film was superb near the beach": the adjective decides the label."""
    data = toy(rows=96)
    rng = random.Random(0)
    texts = [f"{text} near the {rng.choice(('beach', 'river', 'station'))}" for text in data.texts]
    rows = LabelledData(texts, data.labels, data.label_names, data.problem_type)
    return PreparedData(rows.subset(range(72)), rows.subset(range(72, 96)), DataReport(), "text",
                        "label")  # fmt: skip


def test_a_trained_run_asks_for_its_top_word_by_gradient_x_input(tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir, epochs=8, freeze_layers=1)
    run = run_training(three_content_words(), DataConfig(), config, runs.create_run(tmp_path))
    asked = [by_name(run, questions_from_run(run, seed=s)).get("top-token") for s in range(4)]
    asked = [q for q in asked if q is not None]
    assert asked, "no seed gave a sentence with a clear top word"
    for question in asked:
        assert all(content_word(option) for option in question.options)
        text = re.search(r'sentence "(.+)"', question.prompt).group(1)
        scores = {w: s for w, s in gradient_x_input_words(run, text).items()
                  if content_word(w)}  # fmt: skip
        ranked = sorted(scores.values(), reverse=True)
        assert question.answer == max(scores, key=scores.get)
        assert ranked[0] >= 1.5 * max(ranked[1], 0.0)
    assert not content_word("the") and not content_word(",") and content_word("dreadful")


def test_recall_and_confusion_answers_match_a_recount_of_predictions_csv(trained_run):
    questions = by_name(trained_run, questions_from_run(trained_run, seed=1))
    table = pd.read_csv(trained_run.path / "predictions.csv", dtype=str, keep_default_na=False)
    recall = recall_by_class(table)
    lowest = min(recall.values())
    if "lowest-recall" in questions:
        expected = [n for n, r in recall.items() if r == lowest]
        answer = questions["lowest-recall"].answer
        assert answer == (SAME_RECALL if len(expected) == len(recall) else expected[0])
    mistakes = table[table["true_label"] != table["predicted_label"]]
    pairs = Counter(zip(mistakes["true_label"], mistakes["predicted_label"], strict=True))
    if "most-confused" in questions:
        answer = questions["most-confused"].answer
        if not pairs:
            assert answer == NO_MISTAKES
        else:
            (true, predicted), _ = pairs.most_common(1)[0]
            assert answer == f"true '{true}' predicted as '{predicted}'"


def test_the_same_seed_gives_the_same_questions(trained_run):
    def shown(questions: list[Question]) -> list[tuple]:
        return [(q.id, q.prompt, q.options, q.answer) for q in questions]

    assert shown(questions_from_run(trained_run, seed=5)) == shown(
        questions_from_run(trained_run, seed=5)
    )


def write_run(root: Path, predictions: pd.DataFrame | None, learning_rate: float,
              total_steps: int = 30) -> runs.Run:  # fmt: skip
    """A completed run folder written by hand, with three classes and no model."""
    writer = runs.RunWriter(runs.create_run(root, "handmade"))
    names = ["billing", "tech", "sales"]
    train = {"learning_rate": learning_rate, "warmup_ratio": 0.1, "epochs": 3, "threshold": 0.5}
    writer.write_config({"label_names": names, "problem_type": "single_label", "train": train})
    writer.log_event({"event": "start", "total_steps": total_steps})
    writer.log_event({"event": "step", "step": 3, "learning_rate": learning_rate})
    if predictions is not None:
        predictions.to_csv(writer.path / "predictions.csv", index=False)
    writer.set_status("completed")
    return runs.load_run(writer.path, writer.path.parent)


def handmade_predictions(pairs=None) -> pd.DataFrame:
    names = ["billing", "tech", "sales"]
    pairs = pairs or ([("billing", "billing")] * 4 + [("billing", "tech")]
                      + [("tech", "tech")] * 3 + [("tech", "sales")] * 2 + [("tech", "billing")]
                      + [("sales", "sales")] * 3 + [("sales", "billing")])  # fmt: skip
    rows = []
    for i, (true, predicted) in enumerate(pairs):
        row = {"text": f"ticket number {i}", "true_label": true, "predicted_label": predicted,
               "confidence": 0.8}  # fmt: skip
        row.update({f"p_{n}": 0.8 if n == predicted else 0.1 for n in names})
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_three_class_run_gets_recall_and_confusion_questions_from_its_csv(tmp_path):
    run = write_run(tmp_path, handmade_predictions(), learning_rate=5e-5)
    questions = by_name(run, questions_from_run(run))
    check_well_formed(list(questions.values()))
    assert "top-token" not in questions  # no model to explain
    table = handmade_predictions()
    recall = recall_by_class(table)
    assert recall == {"billing": 0.8, "sales": 0.75, "tech": 0.5}
    assert questions["lowest-recall"].answer == "tech"
    assert "tech: 3 of 6 found, recall 0.50" in questions["lowest-recall"].solution[1]
    assert questions["most-confused"].answer == "true 'tech' predicted as 'sales'"
    assert "true 'tech' predicted as 'sales': 2" in questions["most-confused"].solution[1]
    assert questions["confusion-count"].answer == "2"
    assert "out of 6" in questions["confusion-count"].solution[1]
    assert "a different mistake" in questions["confusion-count"].solution[2]
    assert questions["learning-rate"].answer.startswith("Inside the usual range")
    assert questions["warmup-steps"].answer == "3"


def test_a_run_without_mistakes_asks_about_a_diagonal_cell_and_says_so(tmp_path):
    perfect = [(n, n) for n in ("billing", "tech", "sales") for _ in range(3)]
    run = write_run(tmp_path, handmade_predictions(perfect), learning_rate=5e-5)
    question = by_name(run, questions_from_run(run))["confusion-count"]
    assert question.answer == "3"
    assert "on the diagonal" in question.solution[2] and "mistake" not in question.solution[2]


@pytest.mark.parametrize(
    "rate, verdict", [(5e-6, "Below"), (1e-5, "Inside"), (1e-4, "Inside"), (2e-4, "Above")]
)
def test_the_learning_rate_verdict_follows_the_usual_range_without_giving_it_away(
    tmp_path, rate, verdict
):
    run = write_run(tmp_path, None, rate)
    question = by_name(run, questions_from_run(run))["learning-rate"]
    assert question.answer.startswith(verdict)
    shown = (question.prompt + " ".join(question.options)).replace(scientific(rate), "")
    assert "1e-5" not in shown and "1e-4" not in shown  # the range is in the solution only
    assert "1e-5 to 1e-4" in " ".join(question.solution)


@pytest.mark.parametrize("total_steps", [30, 57, 300, 1234])
def test_the_warmup_question_has_one_defensible_answer(tmp_path, total_steps):
    run = write_run(tmp_path, None, 5e-5, total_steps=total_steps)
    question = by_name(run, questions_from_run(run))["warmup-steps"]
    warm = int(0.1 * total_steps)
    assert question.answer == str(warm) and "How many warm-up steps" in question.prompt
    others = [int(o) for o in question.options if o != question.answer]
    assert len(others) >= 2 and all(abs(o - warm) > 1 for o in others)


def test_runs_missing_files_give_what_they_can_and_never_raise(tmp_path):
    bare = write_run(tmp_path, None, 3e-5)
    assert set(by_name(bare, questions_from_run(bare))) == {"learning-rate", "warmup-steps"}
    empty = runs.load_run(runs.create_run(tmp_path, "empty"), tmp_path)
    assert questions_from_run(empty) == []
    odd = handmade_predictions()
    odd.loc[0, "true_label"] = "a label the config does not know"
    unknown_label = write_run(tmp_path, odd, 3e-5)
    assert "lowest-recall" not in by_name(unknown_label, questions_from_run(unknown_label))


def test_a_multi_label_run_skips_the_confusion_questions(tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir, problem_type="multi_label", epochs=2, freeze_layers=1)
    run = run_training(prepared("multi_label"), DataConfig(), config, runs.create_run(tmp_path))
    questions = by_name(run, questions_from_run(run))
    assert len(questions) >= 3
    assert not {"most-confused", "confusion-count"} & set(questions)
    check_well_formed(list(questions.values()))
    table = pd.read_csv(run.path / "predictions.csv", dtype=str, keep_default_na=False)
    names = json.loads((run.path / "config.json").read_text())["label_names"]
    truth = np.array([[n in row.split(";") for n in names] for row in table["true_label"]])
    decided = np.array([[n in row.split(";") for n in names] for row in table["predicted_label"]])
    found = (truth & decided).sum(axis=0) / truth.sum(axis=0)
    recall = dict(zip(names, found, strict=True))
    low = min(recall.values())
    lowest = [n for n, r in recall.items() if r == low]
    answer = questions["lowest-recall"].answer
    assert answer == (SAME_RECALL if len(lowest) == len(names) else lowest[0])
