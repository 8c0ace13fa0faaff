"""Quiz: flashcards, a marked test, practice with hints and solutions, free-text answers scored by
concept, and questions about your own run. Progress lasts for the browser session."""

import random

import pandas as pd
import streamlit as st

from bertviz_lib import runs
from bertviz_lib.config import MAX_TYPED_TEXT_CHARS
from bertviz_lib.learn import lessons
from bertviz_lib.learn.quiz import (
    LEVELS,
    MASTERY_ACCURACY,
    MASTERY_MIN_ANSWERS,
    TOPICS,
    Progress,
    draw_test,
    grade_choice,
    grade_free_text,
    load_bank,
    questions_from_run,
    score_test,
)
from bertviz_lib.report import render
from pages import studio

MODES = ["Recall & Review", "Test", "Practice", "Explain it", "From your run"]
PROGRESS = "quiz.progress"
ALL = "all"


def progress() -> Progress:
    return st.session_state.setdefault(PROGRESS, Progress())


def progress_summary(mine: Progress) -> None:
    first, second, third, fourth = st.columns(4)
    first.metric("Answers given", mine.answered)
    history = mine.score_history()
    second.metric("Tests taken", len(history), f"last {history[-1]:.0f}%" if history else None)
    mastered = mine.mastered_topics()
    third.metric(
        "Topics mastered",
        f"{len(mastered)} of {len(TOPICS)}",
        help=f"At least {MASTERY_MIN_ANSWERS} answers in the topic and "
        f"{MASTERY_ACCURACY:.0%} of the latest ones right.",
    )
    fourth.metric("Due for review", len(mine.due_for_review()))
    if mastered:
        st.caption("Mastered: " + ", ".join(TOPICS.get(t, t) for t in mastered))
    if len(history) > 1:
        st.line_chart(pd.DataFrame({"test score (%)": history}), height=160)


def shown(question, text: str) -> str:
    """Questions from a run quote its labels and texts, which any visitor wrote: as literal text.
    The bank's own questions keep their markdown."""
    return render.markdown_literal(text) if question.id.startswith("run-") else text


def show_question(question, number: str = "") -> None:
    st.markdown(f"**{number}{shown(question, question.prompt)}**")
    st.caption(f"{question.topic_title} · {question.difficulty} · {question.level}")
    if question.code:
        st.code(question.code, language="python")


def show_solution(question, bank) -> None:
    """After an answer: the steps, the answer, a quick check, the common mistakes, the real run."""
    st.markdown("**Step by step**")
    steps = enumerate(question.solution, start=1)
    st.markdown("\n".join(f"{i}. {shown(question, step)}" for i, step in steps))
    st.markdown(f"**Answer:** {shown(question, question.answer)}")
    if question.snippet:
        model, tokenizer = studio.demo_classifier()
        ran = lessons.run_snippet(question.snippet, tokenizer=tokenizer, model=model)
        st.markdown("**The code, run just now:**")
        st.code(ran.output or "(nothing printed)", language="text")
    card = next((c for c in bank.flashcards if set(c.concepts) & set(question.concepts)), None)
    if card:
        with st.expander(f"Quick check: {card.prompt}"):
            st.write(card.answer)
    if question.mistakes:
        st.markdown("**Common mistakes**")
        st.markdown("\n".join(f"- {shown(question, mistake)}" for mistake in question.mistakes))
    if question.live:
        st.page_link(question.live.page, label=question.live.label, icon=":material/visibility:")


def recall(bank, mine: Progress) -> None:
    left, right = st.columns(2)
    levels = left.multiselect("Level", LEVELS, default=list(LEVELS), key="cards.levels")
    topics = right.multiselect(
        "Topic", list(TOPICS), default=list(TOPICS), format_func=TOPICS.get, key="cards.topics"
    )
    cards = [c for c in bank.flashcards if c.level in levels and c.topic in topics]
    if not cards:
        st.info("No card matches these filters.")
        return
    index = st.session_state.get("cards.index", 0) % len(cards)
    card = cards[index]
    st.caption(f"Card {index + 1} of {len(cards)} · {card.level} · {card.topic_title}")
    st.subheader(card.prompt)
    left, right = st.columns(2)
    if left.button("Reveal the answer", icon=":material/visibility:"):
        st.session_state["cards.revealed"] = card.id
    if right.button("Next card", icon=":material/arrow_forward:"):
        st.session_state["cards.index"] = index + 1
        st.session_state.pop("cards.revealed", None)
        st.rerun()
    if st.session_state.get("cards.revealed") == card.id:
        st.success(card.answer)


def topic_picker(key: str) -> str:
    return st.selectbox(
        "Topic",
        [ALL, *TOPICS],
        key=key,
        format_func=lambda t: "All topics" if t == ALL else TOPICS[t],
    )


def test(bank, mine: Progress) -> None:
    topic = topic_picker("test.topic")
    if st.button("New test", icon=":material/restart_alt:") or "test.ids" not in st.session_state:
        drawn = draw_test(
            bank.choice_questions,
            seed=random.randrange(10**6),
            topic=None if topic == ALL else topic,
        )
        st.session_state["test.ids"] = [q.id for q in drawn]
        st.session_state.pop("test.score", None)
    questions = [bank.get(i) for i in st.session_state["test.ids"]]
    with st.form("test"):
        for number, question in enumerate(questions, start=1):
            show_question(question, f"{number}. ")
            st.radio(
                "Your answer",
                question.options,
                index=None,
                key=f"test.answer.{question.id}",
                label_visibility="collapsed",
            )
        marked = st.form_submit_button("Mark my test", type="primary")
    if marked and "test.score" not in st.session_state:
        answers = {q.id: st.session_state.get(f"test.answer.{q.id}") for q in questions}
        score = score_test(questions, answers)
        mine.record_test(questions, score)
        st.session_state["test.score"] = score
    score = st.session_state.get("test.score")
    if score is None:
        return
    st.metric("Score", score.summary)
    rows = [
        {"topic": title, "right": s.correct, "of": s.total}
        for title, s in score.topic_titles().items()
    ]
    st.dataframe(rows, hide_index=True)
    for wrong in score.wrong:
        with st.container(border=True):
            st.markdown(f"**Missed:** {wrong.question.prompt}")
            st.markdown(f"You chose: {wrong.chosen or 'nothing'}")
            show_solution(wrong.question, bank)


def practice(bank, mine: Progress) -> None:
    topic = topic_picker(studio.QUIZ_TOPIC)
    pool = [q for q in bank.choice_questions if topic == ALL or q.topic == topic]
    if st.session_state.get("practice.id") not in {q.id for q in pool}:
        st.session_state["practice.id"] = mine.next_question(pool, seed=mine.answered).id
    question = bank.get(st.session_state["practice.id"])
    show_question(question)
    with st.expander("Hint"):
        st.write(question.hint)
    choice = st.radio(
        "Your answer", question.options, index=None, key=f"practice.answer.{question.id}"
    )
    answered = st.session_state.get("practice.checked", (None, None))
    checked = answered[1] if answered[0] == question.id else None
    if st.button("Check", type="primary", disabled=choice is None or checked is not None):
        checked = grade_choice(question, choice).correct
        mine.record(question, checked)
        st.session_state["practice.checked"] = (question.id, checked)
    if checked is not None:
        (st.success("Right.") if checked else st.error(f"Not quite: you chose {choice}."))
        show_solution(question, bank)
        if st.button("Next question", icon=":material/arrow_forward:"):
            st.session_state.pop("practice.id")
            st.session_state.pop("practice.checked")
            st.rerun()


def explain_it(bank, mine: Progress) -> None:
    prompts = bank.free_text
    question = st.selectbox("Prompt", prompts, format_func=lambda q: q.prompt, key="explain_it.q")
    st.caption(f"Name the key ideas in your own words; {len(question.checklist)} concepts count.")
    text = st.text_area("Your explanation", key=f"explain_it.text.{question.id}",
                        max_chars=MAX_TYPED_TEXT_CHARS)  # fmt: skip
    if st.button("Score my answer", type="primary", disabled=not text.strip()):
        result = grade_free_text(question, text)
        mine.record(question, result.passed)
        st.metric("Concepts named", result.score)
        for name in result.found:
            st.markdown(f":material/check_circle: {name}")
        for name in result.missing:
            st.markdown(f":material/cancel: missing: {name}")
        with st.expander("A model answer"):
            st.write(question.answer)


@st.cache_data(show_spinner="Writing questions from your run…", max_entries=8)
def run_questions(run_path: str, finished_at) -> list:
    run = runs.load_run(run_path)
    return questions_from_run(run, studio.predictor(run_path, finished_at))


def from_your_run(bank, mine: Progress) -> None:
    run, _ = studio.chosen_run_and_model()
    questions = run_questions(str(run.path), run.status.get("finished"))
    st.caption(f"{len(questions)} questions whose answers come from this run's own files.")
    for number, question in enumerate(questions, start=1):
        with st.container(border=True):
            show_question(question, f"{number}. ")
            choice = st.radio(
                "Your answer", question.options, index=None, key=f"run.answer.{question.id}",
                format_func=render.markdown_literal,  # radio options are markdown
            )  # fmt: skip
            done = st.session_state.setdefault("run.checked", {})
            if st.button("Check", key=f"run.check.{question.id}", disabled=choice is None):
                done[question.id] = grade_choice(question, choice).correct
                mine.record(question, done[question.id])
            if question.id in done:
                (st.success("Right.") if done[question.id] else st.error("Not quite."))
                show_solution(question, bank)


st.title("Quiz")
bank = load_bank()
mine = progress()
progress_summary(mine)
mode = st.radio("Mode", MODES, horizontal=True, key=studio.QUIZ_MODE)
MODE_PAGES = {
    "Recall & Review": recall,
    "Test": test,
    "Practice": practice,
    "Explain it": explain_it,
    "From your run": from_your_run,
}
MODE_PAGES[mode](bank, mine)
