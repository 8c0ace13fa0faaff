"""The Learn and Quiz pages through AppTest: live lessons, each quiz mode, progress."""

from __future__ import annotations

from app_pages import studio
from bertviz_lib.learn.quiz import load_bank
from tests.helpers import open_page

BANK = load_bank()


def choose_mode(app, mode: str):
    app.radio(key=studio.QUIZ_MODE).set_value(mode)
    return app.run()


def button(app, label: str):
    return next(b for b in app.button if b.label == label)


def test_learn_page_computes_every_lesson_live():
    app = open_page("app_pages/learn.py")
    assert not app.exception
    assert len(app.expander) == 8
    tokens = app.dataframe[0].value
    assert tokens["token"].iloc[0] == "[CLS]" and "[SEP]" in set(tokens["token"])
    assert set(tokens["attention_mask"]) == {0, 1}  # padded to max_length: the mask shows it
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Similarity of the word's input vectors"] == "1.000"
    assert float(metrics["Similarity of its output vectors"]) < 0.99
    assert any("argmax over the classes" in m.value for m in app.markdown)
    outputs = [c.value for c in app.code]
    assert any("None" in c for c in outputs)  # no labels, no loss: the snippet printed it
    shown = " ".join(m.value for m in app.markdown)
    for taught in ("Brier score", "ROC-AUC", "num_labels=1", "Class weights", "Seeds", "128"):
        assert taught in shown, taught

    app.slider[0].set_value(4).run()
    assert any("is cut, and [SEP] stays last" in w.value for w in app.warning)


def test_a_one_output_head_shows_its_threshold_decision_not_an_argmax():
    app = open_page("app_pages/learn.py")
    model = next(s for s in app.selectbox if s.label == "Model")
    model.set_value(model.options[1]).run()
    assert not app.exception
    rules = [unescaped(m.value) for m in app.markdown if m.value.startswith("Rule:")]
    assert len(rules) == 1 and "the threshold 0.5" in rules[0] and "argmax" not in rules[0]
    threshold = next(s for s in app.slider if s.label == "Threshold")
    threshold.set_value(0.95).run()
    rule = next(unescaped(m.value) for m in app.markdown if m.value.startswith("Rule:"))
    assert "is under the threshold 0.95" in rule and rule.endswith("**negative**")


def unescaped(markdown: str) -> str:
    """Markdown as the reader sees it: the backslashes that keep user text literal removed."""
    return markdown.replace("\\", "")


def test_a_lesson_sends_the_learner_to_practice_on_its_topic():
    app = open_page("app_pages/learn.py")
    app.button(key="practise-2").click().run()
    assert not app.exception
    assert app.session_state[studio.QUIZ_MODE] == "Practice"
    assert app.session_state[studio.QUIZ_TOPIC] == "inputs"
    shown = [c.value for c in app.caption]
    assert any("Tokens and model inputs" in c for c in shown)


def test_flashcards_are_rated_and_a_card_not_known_comes_back_soon():
    app = choose_mode(open_page("app_pages/quiz.py"), "Recall & Review")
    first = app.subheader[0].value
    card = next(c for c in BANK.flashcards if c.prompt == first)
    button(app, "Reveal the answer").click().run()
    assert app.success[0].value == card.answer
    button(app, "Not yet").click().run()
    second = app.subheader[0].value
    assert second != first and not app.success
    button(app, "Reveal the answer").click().run()
    button(app, "Knew it").click().run()
    assert app.subheader[0].value == first  # one card later, the unknown card is due again
    progress = app.session_state["quiz.progress"]
    assert progress.cards[card.id].box == 0 and progress.cards_rated == 2
    assert progress.answered == 0  # self-ratings are not graded answers


def test_a_marked_test_shows_shuffled_options_and_per_option_feedback_and_records_once():
    app = choose_mode(open_page("app_pages/quiz.py"), "Test")
    questions = app.session_state["test.questions"]
    attempt = app.session_state["test.attempt"]
    assert len(questions) == 10
    difficulties = [q.difficulty for q in questions]
    assert difficulties.count("easy") == 3 and difficulties.count("hard") == 3
    bank_order = {q.id: q.options for q in BANK.choice_questions}
    assert any(q.options != bank_order[q.id] for q in questions if q.origin == "bank")
    for number, question in enumerate(questions):
        radio = app.radio(key=f"test.answer.{attempt}.{question.id}")
        assert list(radio.options) == list(question.options)  # shown in the drawn order
        wrong = next(o for o in question.options if o != question.answer)
        radio.set_value(question.answer if number else wrong)
    button(app, "Mark my test").click().run()
    assert not app.exception
    assert app.metric[-1].value == "9 of 10 right (90%)"
    assert sum(row["of"] for row in app.dataframe[0].value.to_dict("records")) == 10
    shown = [m.value for m in app.markdown]
    assert sum(m.startswith("**Missed:**") for m in shown) == 1 and "**Step by step**" in shown
    assert sum("(your answer)" in m for m in shown) == 1
    missed = questions[0]
    assert any(missed.why(missed.answer) in unescaped(m) for m in shown)  # why it is right
    button(app, "Mark my test").click().run()  # a second click records nothing more
    progress = app.session_state["quiz.progress"]
    assert progress.score_history() == [90.0] and progress.answered == 10
    assert app.metric[1].value == "1"  # tests taken


def test_practice_gives_hint_feedback_and_serves_the_missed_question_until_none_is_due():
    app = choose_mode(open_page("app_pages/quiz.py"), "Practice")
    question = app.session_state["practice.question"]
    assert question.hint in [m.value for m in app.markdown]  # the hint waits in its expander
    wrong = next(o for o in question.options if o != question.answer)
    app.radio(key="practice.answer.practice-0").set_value(wrong).run()
    button(app, "Check").click().run()
    assert app.error and "**Step by step**" in [m.value for m in app.markdown]
    assert not app.get("help")
    assert any(question.why(wrong) in unescaped(m.value) for m in app.markdown)
    button(app, "Check").click().run()  # disabled: a second check records nothing
    progress = app.session_state["quiz.progress"]
    assert progress.answered == 1 and question.id in progress.review_due
    for round_number in range(1, 4):  # three more answers: the wrong one is due again
        button(app, "Next question").click().run()
        current = app.session_state["practice.question"]
        app.radio(key=f"practice.answer.practice-{round_number}").set_value(current.answer)
        app.run()
        button(app, "Check").click().run()
        assert app.success
    assert app.metric[3].value == "1"  # due for review, counted after this run's answer
    button(app, "Next question").click().run()
    assert app.session_state["practice.question"].id == question.id
    assert any("you missed this question earlier" in i.value for i in app.info)
    app.radio(key="practice.answer.practice-4").set_value(question.answer).run()
    button(app, "Check").click().run()
    assert app.metric[3].value == "0"


def test_explain_it_refuses_a_negated_answer_shows_the_misconception_and_keeps_ticks_apart():
    app = choose_mode(open_page("app_pages/quiz.py"), "Explain it")
    app.selectbox(key="explain_it.q").set_value(BANK.get("explain-cls")).run()
    app.text_area(key="explain_it.text.explain-explain-cls-0").set_value(
        "[CLS] is placed at the end of the input, after the last word. It does not use "
        "attention, and the classifier never reads its vector."
    ).run()
    button(app, "Score my answer").click().run()
    assert not app.exception
    assert not app.get("help")  # no bare expression echoed by Streamlit's magic
    assert app.metric[-1].value == "0 of 4 concepts" and app.error
    shown = [m.value for m in app.markdown]
    assert any("matches the misconception" in m and "after the last word" in m for m in shown)
    assert any("says the opposite" in m for m in shown)
    assert any(e.label == "A model answer" for e in app.expander)
    for checkbox in app.checkbox:
        checkbox.check()
    button(app, "Record my self-assessment").click().run()
    progress = app.session_state["quiz.progress"]
    assert [(s.claimed, s.automatic) for s in progress.self_assessments] == [(4, 0)]
    assert [a.correct for a in progress.attempts] == [False]  # the automatic score counts
    assert any("Recorded apart: you 4 of 4, automatic 0 of 4" in c.value for c in app.caption)
    button(app, "Score my answer").click().run()  # scoring the same attempt again
    assert app.session_state["quiz.progress"].answered == 1


def test_explain_it_credits_a_paraphrase_and_cites_the_learners_sentence():
    app = choose_mode(open_page("app_pages/quiz.py"), "Explain it")
    app.selectbox(key="explain_it.q").set_value(BANK.get("explain-cls")).run()
    app.text_area(key="explain_it.text.explain-explain-cls-0").set_value(
        "A special marker is placed ahead of the words, in the leading slot. It mixes in "
        "information from all the other words in every layer, so after fine-tuning its vector "
        "condenses the meaning of the complete passage. The final dense layer maps that one "
        "vector to a score per class."
    ).run()
    button(app, "Score my answer").click().run()
    assert app.metric[-1].value == "4 of 4 concepts" and app.success
    assert any("found in" in m.value and "leading slot" in m.value for m in app.markdown)


def test_questions_from_your_run_come_with_answers_from_its_files(trained_run):
    app = choose_mode(open_page("app_pages/quiz.py"), "From your run")
    assert not app.exception
    caption = next(c.value for c in app.caption if "answers come from this run" in c.value)
    assert int(caption.split()[0]) >= 3
    radio = next(r for r in app.radio if r.key and r.key.startswith("run.answer."))
    question_id = radio.key.rsplit(".", 1)[-1]
    radio.set_value(radio.options[0]).run()
    app.button(key=f"run.check.{question_id}").click().run()
    assert (app.success or app.error) and not app.get("help")
    app.button(key=f"run.check.{question_id}").click().run()
    assert app.session_state["quiz.progress"].answered == 1  # once per attempt
