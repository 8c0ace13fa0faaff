"""Quiz: flashcards with spaced review, a marked test, practice with hints and solutions, free-text
answers graded by meaning, and questions about your own run. Progress lasts for the browser
session; the rules live in bertviz_lib.learn.quiz.sessions."""

import random

import pandas as pd
import streamlit as st

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.config import MAX_TYPED_TEXT_CHARS
from bertviz_lib.learn import lessons
from bertviz_lib.learn.quiz import (
    LEVELS,
    MASTERY_ACCURACY,
    MASTERY_MIN_ANSWERS,
    PASS_SHARE,
    TOPICS,
    Progress,
    draw_test,
    grade_choice,
    grade_free_text,
    load_bank,
    questions_from_run,
    ready_to_ask,
    score_test,
)
from bertviz_lib.learn.quiz.meaning import warm_up
from bertviz_lib.report.render import markdown_literal

MODES = ["Recall & Review", "Test", "Practice", "Explain it", "From your run"]
PROGRESS = "quiz.progress"
ALL = "all"


def progress() -> Progress:
    return st.session_state.setdefault(PROGRESS, Progress())


@st.cache_resource(show_spinner="Loading the sentence encoder that grades free text…")
def free_text_grader_ready(_bank) -> bool:
    """Load the encoder and embed the references once per server, not on the first "Score"."""
    warm_up(_bank.free_text)
    return True


def progress_summary(mine: Progress, bank) -> None:
    first, second, third, fourth = st.columns(4)
    first.metric("Answers given", mine.answered)
    history = mine.score_history()
    second.metric(
        "Tests taken",
        len(history),
        f"last {history[-1]:.0f}%" if history else None,
        delta_color="off",  # the last score, not a rise or a fall
    )
    mastered = mine.mastered_topics()
    third.metric(
        "Topics mastered",
        f"{len(mastered)} of {len(TOPICS)}",
        help=f"At least {MASTERY_MIN_ANSWERS} graded answers in the topic and "
        f"{MASTERY_ACCURACY:.0%} of the latest ones right. Self-assessments do not count.",
    )
    fourth.metric(
        "Due for review",
        len(mine.due_for_review()),
        help="Questions you missed come back in Practice a few answers later.",
    )
    cards_due = len(mine.cards_due(bank.flashcards))
    caption = f"Flashcards due: {cards_due}."
    if mastered:
        caption += " Mastered: " + ", ".join(TOPICS.get(t, t) for t in mastered) + "."
    st.caption(caption)
    if len(history) > 1:
        st.line_chart(pd.DataFrame({"test score (%)": history}), height=160)


def literal(question, text: str) -> str:
    """Text of a question about the learner's run quotes user data; the bank's is trusted."""
    return markdown_literal(text) if question.origin == "run" else text


def show_question(question, number: str = "") -> None:
    st.markdown(f"**{number}{literal(question, question.prompt)}**")
    st.caption(f"{question.topic_title} · {question.difficulty} · {question.level}")
    if question.code:
        st.code(question.code, language="python")


def show_feedback(question, chosen: str | None) -> None:
    """Every option with why it is right or wrong, the learner's choice marked."""
    for option in question.options:
        right = option == question.answer
        icon = ":material/check_circle:" if right else ":material/cancel:"
        mine = " (your answer)" if option == chosen else ""
        st.markdown(
            f"{icon} **{markdown_literal(option)}**{mine}: {markdown_literal(question.why(option))}"
        )


def show_solution(question, bank) -> None:
    """After an answer: the steps, the answer, a quick check, the common mistakes, the real run."""
    st.markdown("**Step by step**")
    st.markdown(
        "\n".join(
            f"{i}. {literal(question, step)}" for i, step in enumerate(question.solution, start=1)
        )
    )
    st.markdown(f"**Answer:** {literal(question, question.answer)}")
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
        st.markdown("\n".join(f"- {literal(question, mistake)}" for mistake in question.mistakes))
    if question.live:
        st.page_link(question.live.page, label=question.live.label, icon=":material/visibility:")


def recall(bank, mine: Progress) -> None:
    left, right = st.columns(2)
    levels = left.multiselect("Level", LEVELS, default=list(LEVELS), key="cards.levels")
    topics = right.multiselect(
        "Topic", list(TOPICS), default=list(TOPICS), format_func=TOPICS.get, key="cards.topics"
    )
    cards = [c for c in bank.flashcards if c.level in levels and c.topic in topics]
    card = mine.next_card(cards)
    if card is None:
        st.info("No card matches these filters.")
        return
    state = mine.cards.get(card.id)
    seen = f"box {state.box + 1}" if state else "new card"
    due = len(mine.cards_due(cards))
    st.caption(f"{len(cards)} cards · {due} due · {seen} · {card.level} · {card.topic_title}")
    st.subheader(card.prompt)
    if st.button("Reveal the answer", icon=":material/visibility:"):
        st.session_state["cards.revealed"] = card.id
    if st.session_state.get("cards.revealed") != card.id:
        return
    st.success(card.answer)
    st.caption("Rate yourself: a card you knew comes back later and later; one you did not, soon.")
    knew, not_yet = st.columns(2)
    for column, label, verdict in ((knew, "Knew it", True), (not_yet, "Not yet", False)):
        if column.button(label, key=f"cards.rate.{verdict}"):
            mine.rate_card(card, verdict)
            st.session_state.pop("cards.revealed", None)
            st.rerun()


def topic_picker(key: str) -> str:
    return st.selectbox(
        "Topic",
        [ALL, *TOPICS],
        key=key,
        format_func=lambda t: "All topics" if t == ALL else TOPICS[t],
    )


def test(bank, mine: Progress) -> None:
    topic = topic_picker("test.topic")
    if st.button("New test", icon=":material/restart_alt:") or "test.questions" not in (
        st.session_state
    ):
        seed = random.randrange(10**6)
        drawn = draw_test(bank.choice_questions, seed=seed, topic=None if topic == ALL else topic)
        st.session_state["test.questions"] = drawn
        st.session_state["test.attempt"] = f"test-{seed}"
        st.session_state.pop("test.score", None)
    questions = st.session_state["test.questions"]
    attempt = st.session_state["test.attempt"]
    with st.form("test"):
        for number, question in enumerate(questions, start=1):
            show_question(question, f"{number}. ")
            st.radio(
                "Your answer",
                question.options,
                index=None,
                key=f"test.answer.{attempt}.{question.id}",
                label_visibility="collapsed",
            )
        marked = st.form_submit_button("Mark my test", type="primary")
    if marked and "test.score" not in st.session_state:
        answers = {q.id: st.session_state.get(f"test.answer.{attempt}.{q.id}") for q in questions}
        score = score_test(questions, answers)
        mine.record_test(questions, score, attempt)
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
            st.markdown(f"**Missed:** {literal(wrong.question, wrong.question.prompt)}")
            show_feedback(wrong.question, wrong.chosen)
            show_solution(wrong.question, bank)


def practice(bank, mine: Progress) -> None:
    topic = topic_picker(studio.QUIZ_TOPIC)
    pool = [q for q in bank.choice_questions if topic == ALL or q.topic == topic]
    reviews = [q for q in bank.choice_questions if q.reviewable]
    round_number = st.session_state.setdefault("practice.round", 0)
    current = st.session_state.get("practice.question")
    if current is None or (
        current.id not in {q.id for q in pool} and current.id not in mine.due_for_review()
    ):
        chosen = mine.next_question(pool, seed=round_number, reviews=reviews)
        current = ready_to_ask(chosen, random.Random(f"practice-{round_number}"))
        st.session_state["practice.question"] = current
    question = current
    attempt = f"practice-{round_number}"
    if question.id in mine.review_due:
        st.info("Review: you missed this question earlier.", icon=":material/history:")
    show_question(question)
    with st.expander("Hint"):
        st.write(question.hint)
    choice = st.radio("Your answer", question.options, index=None, key=f"practice.answer.{attempt}")
    checked = mine.answered_in(question.id, attempt)
    if st.button("Check", type="primary", disabled=choice is None or checked):
        mine.record(question, grade_choice(question, choice).correct, attempt)
        st.session_state["practice.chosen"] = choice
        checked = True
    if not checked:
        return
    chosen = st.session_state.get("practice.chosen", choice)
    if chosen == question.answer:
        st.success("Right.")
    else:
        st.error(f"Not quite: you chose {markdown_literal(chosen)}.")
    show_feedback(question, chosen)
    show_solution(question, bank)
    if st.button("Next question", icon=":material/arrow_forward:"):
        st.session_state["practice.round"] = round_number + 1
        st.session_state.pop("practice.question")
        st.session_state.pop("practice.chosen", None)
        st.rerun()


def explain_it(bank, mine: Progress) -> None:
    free_text_grader_ready(bank)
    question = st.selectbox(
        "Prompt", bank.free_text, format_func=lambda q: q.prompt, key="explain_it.q"
    )
    needed = next(n for n in range(len(question.checklist) + 1)
                  if n / len(question.checklist) >= PASS_SHARE)  # fmt: skip
    st.caption(
        f"Explain it in full sentences, in your own words. {len(question.checklist)} concepts "
        f"count, and finding {needed} passes. Your answer is read for what it means: naming a "
        "concept's words is not enough, and a sentence that says the opposite does not count."
    )
    round_number = st.session_state.setdefault(f"explain_it.round.{question.id}", 0)
    attempt = f"explain-{question.id}-{round_number}"
    text = st.text_area("Your explanation", key=f"explain_it.text.{attempt}",
                        max_chars=MAX_TYPED_TEXT_CHARS)  # fmt: skip
    left, right = st.columns(2)
    if left.button("Score my answer", type="primary", disabled=not text.strip()):
        result = grade_free_text(question, text)
        st.session_state[f"explain_it.result.{attempt}"] = result
        mine.record(question, result.passed, attempt)  # the first score of an attempt counts
    if right.button("New attempt", icon=":material/restart_alt:"):
        st.session_state[f"explain_it.round.{question.id}"] = round_number + 1
        st.rerun()
    result = st.session_state.get(f"explain_it.result.{attempt}")
    if result is None:
        return
    show_free_text_result(question, result)
    self_assessment(question, result, attempt, mine)


def show_free_text_result(question, result) -> None:
    if result.message:
        st.warning(result.message)
    st.metric("Concepts found", result.score, help="Graded automatically, by meaning.")
    if result.passed:
        st.success("Passed.")
    else:
        st.error("Not passed yet.")
    for verdict in result.verdicts:
        icon = ":material/check_circle:" if verdict.credited else ":material/cancel:"
        st.markdown(f"{icon} **{verdict.name}**: {markdown_literal(verdict.reason)}")
    with st.expander("A model answer", expanded=True):
        st.write(question.answer)


def self_assessment(question, result, attempt: str, mine: Progress) -> None:
    st.markdown("**Your own check:** tick the concepts you believe your answer covered.")
    ticked = [
        st.checkbox(verdict.name, key=f"explain_it.self.{attempt}.{index}")
        for index, verdict in enumerate(result.verdicts)
    ]
    if st.button("Record my self-assessment"):
        mine.record_self_assessment(question, attempt, result.points, sum(ticked))
    recorded = next((s for s in reversed(mine.self_assessments) if s.attempt == attempt), None)
    if recorded:
        st.caption(
            f"Recorded apart: you {recorded.claimed} of {recorded.total}, automatic "
            f"{recorded.automatic} of {recorded.total}. Only the automatic score counts towards "
            "topics mastered."
        )


@st.cache_data(show_spinner="Writing questions from your run…", max_entries=8)
def run_questions(run_path: str, finished_at) -> list:
    run = runs.load_run(run_path)
    return questions_from_run(run, studio.predictor(run_path, finished_at))


def from_your_run(bank, mine: Progress) -> None:
    run, _ = studio.chosen_run_and_model()
    questions = run_questions(str(run.path), run.status.get("finished"))
    round_number = st.session_state.setdefault("run.round", 0)
    attempt = f"run-{run.run_id}-{round_number}"
    st.caption(f"{len(questions)} questions whose answers come from this run's own files.")
    if st.button("Try again", icon=":material/restart_alt:"):
        st.session_state["run.round"] = round_number + 1
        st.rerun()
    for number, question in enumerate(questions, start=1):
        with st.container(border=True):
            show_question(question, f"{number}. ")
            choice = st.radio(
                "Your answer",
                question.options,
                index=None,
                key=f"run.answer.{attempt}.{question.id}",
                format_func=markdown_literal,  # radio options are markdown
            )
            chosen = st.session_state.setdefault("run.chosen", {})
            if st.button("Check", key=f"run.check.{question.id}", disabled=choice is None):
                mine.record(question, grade_choice(question, choice).correct, attempt)
                chosen.setdefault((attempt, question.id), choice)
            if mine.answered_in(question.id, attempt):
                picked = chosen.get((attempt, question.id), choice)
                if picked == question.answer:
                    st.success("Right.")
                else:
                    st.error("Not quite.")
                show_feedback(question, picked)
                show_solution(question, bank)


st.title("Quiz")
bank = load_bank()
mine = progress()
summary = st.container()  # filled last, so it counts the answer this run recorded
mode = st.radio("Mode", MODES, horizontal=True, key=studio.QUIZ_MODE)
MODE_PAGES = {
    "Recall & Review": recall,
    "Test": test,
    "Practice": practice,
    "Explain it": explain_it,
    "From your run": from_your_run,
}
MODE_PAGES[mode](bank, mine)
with summary:
    progress_summary(mine, bank)
