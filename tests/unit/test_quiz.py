"""Learn & Quiz: the bank's schema and coverage, grading, tests, progress, run questions."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bertviz_lib import runs
from bertviz_lib.config import DataConfig
from bertviz_lib.learn.quiz import (
    CONCEPTS,
    MASTERY_MIN_ANSWERS,
    REVIEW_GAP,
    SEED_CONCEPTS,
    TOPICS,
    BankError,
    Progress,
    Question,
    draw_test,
    grade_choice,
    grade_free_text,
    load_bank,
    mentions,
    parse_bank,
    questions_from_run,
    score_test,
)
from bertviz_lib.learn.quiz.from_run import NO_MISTAKES, SAME_RECALL
from bertviz_lib.model.predict import Predictor
from bertviz_lib.runs.training_run import run_training
from tests.helpers import prepared, tiny_config

ROOT = Path(__file__).resolve().parents[2]
BANK = load_bank()


# --- The bank ---------------------------------------------------------------------------------


def test_the_bank_has_the_counts_the_issue_asks_for():
    choice = BANK.choice_questions
    by_difficulty = Counter(q.difficulty for q in choice)
    assert len(choice) >= 50
    assert by_difficulty["easy"] >= 15 and by_difficulty["medium"] >= 15
    assert by_difficulty["hard"] >= 12
    assert len(BANK.flashcards) >= 12
    assert len(BANK.free_text) >= 4
    assert {q.kind for q in choice} == {"multiple_choice", "code_reading"}


def test_ids_are_unique_and_every_answer_is_one_of_its_options():
    ids = [q.id for q in BANK.questions]
    assert len(ids) == len(set(ids))
    for question in BANK.choice_questions:
        assert question.answer in question.options, question.id
        assert len(set(question.options)) == len(question.options), question.id
        assert 3 <= len(question.options) <= 5, question.id
        assert question.solution and question.hint and question.mistakes, question.id


def test_right_answers_are_spread_over_the_option_positions():
    positions = Counter(q.answer_index for q in BANK.choice_questions)
    assert len(positions) >= 4  # answers are not always in the same place
    assert max(positions.values()) <= 0.4 * len(BANK.choice_questions)


def test_every_concept_is_taught_by_at_least_two_questions():
    coverage = BANK.concept_coverage()
    assert set(coverage) == set(CONCEPTS)
    thin = {tag: ids for tag, ids in coverage.items() if len(ids) < 2}
    assert not thin, thin
    assert set(SEED_CONCEPTS) <= set(CONCEPTS)
    assert {q.topic for q in BANK.questions} == set(TOPICS)


def test_free_text_checklists_have_four_to_six_concepts_and_the_model_answer_names_them_all():
    for question in BANK.free_text:
        assert 4 <= len(question.checklist) <= 6, question.id
        result = grade_free_text(question, question.answer)
        assert result.missing == (), (question.id, result.missing)


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
        "options": ["0", "1", "2"],
        "answer": "2",
        "solution": ["Step."],
        "hint": "Hint.",
        "mistakes": ["Mistake."],
    }
    return {**base, **overrides}


def test_a_valid_item_parses_into_a_question():
    bank = parse_bank({"questions": [item(live={"page": "pages/learn.py", "label": "Go"})]})
    question = bank.get("sample")
    assert question.answer_index == 2 and question.live.page == "pages/learn.py"
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
            checklist=[{"name": "x", "phrases": ["x"]}] * 3,
        ),
        item(id="e", live={"page": "../secrets.py", "label": "x"}),
        item(id="e"),
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
    ):
        assert expected in message
    with pytest.raises(BankError, match="non-empty 'questions' list"):
        parse_bank({"items": []})


def test_a_bank_file_that_is_not_yaml_fails_with_its_name(tmp_path):
    path = tmp_path / "bank.yaml"
    path.write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(BankError, match="bank.yaml"):
        load_bank(path)


# --- Grading ----------------------------------------------------------------------------------


def test_a_choice_is_graded_by_option_text_or_index():
    question = BANK.get("argmax-pick-class")
    assert grade_choice(question, "2").correct
    assert grade_choice(question, question.answer_index).correct
    wrong = grade_choice(question, "3.1")
    assert not wrong.correct and wrong.answer == "2" and wrong.solution == question.solution
    assert not grade_choice(question, None).correct
    with pytest.raises(ValueError, match="not one of the options"):
        grade_choice(question, "two")
    with pytest.raises(ValueError, match="outside"):
        grade_choice(question, 9)
    with pytest.raises(ValueError, match="not a choice question"):
        grade_choice(BANK.flashcards[0], "x")


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("Fine-Tuning adapts the weights", "fine tuning"),
        ("we finetune it", "fine-tune"),
        ("The attention MASKS hide padding.", "attention mask"),
        ("several probabilities", "probability"),
        ("both classes", "class"),
        ("two biases", "bias"),
        ("It's bi-directional", "bidirectional"),
        ("[CLS] comes first", "[CLS]"),
        ("the CLS token", "[CLS]"),
        ("pre trained weights", "pre-trained"),
        ("stop early, please!", "stop early"),
        ("Früh: the régularisation", "regularisation"),
    ],
)
def test_phrases_are_found_despite_case_punctuation_plurals_and_hyphens(text, phrase):
    assert mentions(text, phrase)


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("add padding to the batch", "pad"),  # a whole word, not a piece of one
        ("the pads", "padding"),
        ("we stop late", "stop early"),
        ("early we should stop", "stop early"),  # words in order
        ("recalled later", "recall"),
        ("", "head"),
        ("anything at all", ""),
    ],
)
def test_phrases_do_not_match_inside_other_words_or_out_of_order(text, phrase):
    assert not mentions(text, phrase)


def test_free_text_is_scored_by_concepts_found_and_missing():
    question = BANK.get("explain-overfitting")
    answer = "Use a LOWER learning-rate, some Drop-out, and early stopping with patience."
    result = grade_free_text(question, answer)
    assert result.found == ("small learning rate", "dropout", "early stopping")
    assert result.missing == ("few epochs", "weight decay")
    assert result.score == "3 of 5 concepts" and result.passed
    assert result.matched_phrases["dropout"] == "dropout"  # "Drop-out" joined
    empty = grade_free_text(question, "I would train it.")
    assert empty.score == "0 of 5 concepts" and not empty.passed
    with pytest.raises(ValueError, match="not a free-text prompt"):
        grade_free_text(BANK.choice_questions[0], "text")


def test_a_test_draws_three_easy_four_medium_three_hard_reproducibly():
    test = draw_test(BANK.questions, seed=7)
    assert len(test) == 10 and len({q.id for q in test}) == 10
    assert [q.difficulty for q in test] == ["easy"] * 3 + ["medium"] * 4 + ["hard"] * 3
    assert all(q.is_choice for q in test)
    assert [q.id for q in draw_test(BANK.questions, seed=7)] == [q.id for q in test]
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
    progress.record_test(test, score)
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
    assert {"top-token", "learning-rate", "confusion-count", "warmup-steps"} <= set(questions)
    assert len(questions) >= 4
    check_well_formed(list(questions.values()))
    table = pd.read_csv(trained_run.path / "predictions.csv", dtype=str, keep_default_na=False)

    rate = json.loads((trained_run.path / "config.json").read_text())["train"]["learning_rate"]
    assert rate == 3e-3 and questions["learning-rate"].answer.startswith("Above it")
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

    text = re.search(r'sentence "(.+)"', questions["top-token"].prompt).group(1)
    assert text in set(table["text"])
    scores = gradient_x_input_words(trained_run, text)
    assert questions["top-token"].answer == max(scores, key=scores.get)


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


def write_run(root: Path, predictions: pd.DataFrame | None, learning_rate: float) -> runs.Run:
    """A completed run folder written by hand, with three classes and no model."""
    writer = runs.RunWriter(runs.create_run(root, "handmade"))
    names = ["billing", "tech", "sales"]
    train = {"learning_rate": learning_rate, "warmup_ratio": 0.1, "epochs": 3, "threshold": 0.5}
    writer.write_config({"label_names": names, "problem_type": "single_label", "train": train})
    writer.log_event({"event": "start", "total_steps": 30})
    writer.log_event({"event": "step", "step": 3, "learning_rate": learning_rate})
    if predictions is not None:
        predictions.to_csv(writer.path / "predictions.csv", index=False)
    writer.set_status("completed")
    return runs.load_run(writer.path, writer.path.parent)


def handmade_predictions() -> pd.DataFrame:
    names = ["billing", "tech", "sales"]
    pairs = ([("billing", "billing")] * 4 + [("billing", "tech")]
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
    assert questions["learning-rate"].answer.startswith("Inside the usual range")
    assert questions["warmup-steps"].answer == "3"


@pytest.mark.parametrize(
    "rate, verdict", [(5e-6, "Below it"), (1e-5, "Inside"), (1e-4, "Inside"), (2e-4, "Above it")]
)
def test_the_learning_rate_verdict_follows_the_usual_range(tmp_path, rate, verdict):
    run = write_run(tmp_path, None, rate)
    question = by_name(run, questions_from_run(run))["learning-rate"]
    assert question.answer.startswith(verdict)


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
    assert len(questions) >= 4
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
