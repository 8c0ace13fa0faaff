"""The Learn and Quiz pages through AppTest: live lessons, each quiz mode, progress."""

from __future__ import annotations

from bertviz_lib.learn.quiz import load_bank
from pages import studio
from tests.helpers import open_page

BANK = load_bank()


def choose_mode(app, mode: str):
    app.radio(key=studio.QUIZ_MODE).set_value(mode)
    return app.run()


def test_learn_page_computes_every_lesson_live():
    app = open_page("pages/learn.py")
    assert not app.exception
    assert len(app.expander) == 8
    tokens = app.dataframe[0].value
    assert tokens["token"].iloc[0] == "[CLS]" and "[SEP]" in set(tokens["token"])
    assert set(tokens["attention_mask"]) == {0, 1}  # padded to max_length: the mask shows it
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Similarity of the word's input vectors"] == "1.000"
    assert float(metrics["Similarity of its output vectors"]) < 0.99
    assert any("argmax:" in m.value for m in app.markdown)
    outputs = [c.value for c in app.code]
    assert any("None" in c for c in outputs)  # no labels, no loss: the snippet printed it

    app.slider[0].set_value(4).run()
    assert any("is cut, and [SEP] stays last" in w.value for w in app.warning)


def test_a_lesson_sends_the_learner_to_practice_on_its_topic():
    app = open_page("pages/learn.py")
    app.button(key="practise-2").click().run()
    assert not app.exception
    assert app.session_state[studio.QUIZ_MODE] == "Practice"
    assert app.session_state[studio.QUIZ_TOPIC] == "inputs"
    shown = [c.value for c in app.caption]
    assert any("Tokens and model inputs" in c for c in shown)


def test_flashcards_reveal_and_move_on():
    app = choose_mode(open_page("pages/quiz.py"), "Recall & Review")
    first = app.subheader[0].value
    card = next(c for c in BANK.flashcards if c.prompt == first)
    app.button[0].click().run()
    assert app.success[0].value == card.answer
    app.button[1].click().run()
    assert app.subheader[0].value != first and not app.success


def test_a_marked_test_scores_breaks_down_and_records_once():
    app = choose_mode(open_page("pages/quiz.py"), "Test")
    ids = app.session_state["test.ids"]
    assert len(ids) == 10
    difficulties = [BANK.get(i).difficulty for i in ids]
    assert difficulties.count("easy") == 3 and difficulties.count("hard") == 3
    for number, question_id in enumerate(ids):
        question = BANK.get(question_id)
        answer = question.answer if number else question.options[question.answer_index - 1]
        app.radio(key=f"test.answer.{question_id}").set_value(answer)
    app.button[1].click().run()  # "Mark my test" (after "New test")
    assert not app.exception
    assert app.metric[-1].value == "9 of 10 right (90%)"
    assert sum(row["of"] for row in app.dataframe[0].value.to_dict("records")) == 10
    shown = [m.value for m in app.markdown]
    assert sum(m.startswith("**Missed:**") for m in shown) == 1 and "**Step by step**" in shown
    app.run()
    progress = app.session_state["quiz.progress"]
    assert progress.score_history() == [90.0] and progress.answered == 10
    assert app.metric[1].value == "1"  # tests taken


def test_practice_gives_hint_solution_and_brings_a_wrong_answer_back():
    app = choose_mode(open_page("pages/quiz.py"), "Practice")
    question = BANK.get(app.session_state["practice.id"])
    assert question.hint in [m.value for m in app.markdown]  # the hint waits in its expander
    wrong = next(o for o in question.options if o != question.answer)
    app.radio(key=f"practice.answer.{question.id}").set_value(wrong).run()
    app.button[0].click().run()  # Check
    assert app.error and "**Step by step**" in [m.value for m in app.markdown]
    progress = app.session_state["quiz.progress"]
    assert question.id in progress.review_due
    for _ in range(3):  # three more answers: the wrong one is due again
        next_button = next(b for b in app.button if b.label == "Next question")
        next_button.click().run()
        current = BANK.get(app.session_state["practice.id"])
        app.radio(key=f"practice.answer.{current.id}").set_value(current.answer).run()
        app.button[0].click().run()
        assert app.success
    next(b for b in app.button if b.label == "Next question").click().run()
    assert app.session_state["practice.id"] == question.id


def test_explain_it_scores_concepts_and_names_the_missing_ones():
    app = choose_mode(open_page("pages/quiz.py"), "Explain it")
    question = app.selectbox(key="explain_it.q").value
    concept = question.checklist[0]
    app.text_area(key=f"explain_it.text.{question.id}").set_value(
        f"My answer mentions {concept.phrases[0].upper()}."
    ).run()
    app.button[0].click().run()
    total = len(question.checklist)
    assert app.metric[-1].value == f"1 of {total} concepts"
    missing = [m.value for m in app.markdown if "missing:" in m.value]
    assert len(missing) == total - 1


def test_questions_from_your_run_come_with_answers_from_its_files(trained_run):
    app = choose_mode(open_page("pages/quiz.py"), "From your run")
    assert not app.exception
    caption = next(c.value for c in app.caption if "answers come from this run" in c.value)
    assert int(caption.split()[0]) >= 4
    radio = next(r for r in app.radio if r.key and r.key.startswith("run.answer."))
    question_id = radio.key.removeprefix("run.answer.")
    radio.set_value(radio.options[0]).run()
    app.button(key=f"run.check.{question_id}").click().run()
    assert app.success or app.error
