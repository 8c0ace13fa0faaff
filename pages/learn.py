"""Learn: how a BERT classifier is fine-tuned, each idea shown on a live model."""

import pandas as pd
import streamlit as st

from bertviz_lib import runs
from bertviz_lib.config import MAX_TYPED_TEXT_CHARS
from bertviz_lib.learn import lessons
from bertviz_lib.learn.quiz import TOPICS
from bertviz_lib.report import exports, render
from pages import studio


def practise_button(topic: str, index: int) -> None:
    if st.button(f"Practise: {TOPICS[topic]}", key=f"practise-{index}", icon=":material/quiz:"):
        studio.practise(topic)


def snippet(name: str) -> None:
    """A snippet of the project's own code, and what it printed when it ran just now."""
    model, tokenizer = studio.demo_classifier()
    ran = lessons.run_snippet(name, tokenizer=tokenizer, model=model)
    left, right = st.columns(2)
    left.code(ran.source, language="python")
    right.code(ran.output or "(nothing printed)", language="text")


def both_directions() -> None:
    st.markdown(
        "BERT (Bidirectional Encoder Representations from Transformers) is a stack of "
        "Transformer encoder layers pre-trained on plain text by hiding words and guessing them. "
        "Every layer lets each token look at **all** the others, to its left and to its right, so "
        "the vector a word ends up with depends on the whole sentence. A left-to-right language "
        "model only sees what came before; for classification, where the whole text is known "
        "up front, there is no reason to throw the right-hand context away."
    )
    st.markdown("**Try it:** keep the start of a sentence and change only what comes after a word.")
    first = st.text_input(
        "First sentence", "The bank by the river flooded again.", max_chars=MAX_TYPED_TEXT_CHARS
    )
    second = st.text_input(
        "Second sentence",
        "The bank raised its interest rates again.",
        max_chars=MAX_TYPED_TEXT_CHARS,
    )
    word = st.text_input("Word to compare", "bank", max_chars=MAX_TYPED_TEXT_CHARS)
    model, tokenizer = studio.demo_classifier()
    try:
        shift = lessons.context_shift(model, tokenizer, first, second, word)
    except (ValueError, IndexError):
        st.warning("Both sentences must contain the word to compare.")
        return
    left, right = st.columns(2)
    left.metric("Similarity of the word's input vectors", f"{shift.input_similarity:.3f}")
    right.metric("Similarity of its output vectors", f"{shift.output_similarity:.3f}")
    st.caption(
        "The input vector comes from a fixed table, so it is identical in both sentences; the "
        "output vector has mixed in the words around it, including the ones to its right."
    )
    st.code(shift.code, language="python")


def fine_tuning() -> None:
    st.markdown(
        "Pre-training is expensive and generic: the model learns how language works from "
        "billions of words, with no labels. **Fine-tuning** starts from those learned weights, "
        "adds a small classification head, and keeps training the whole network for a few "
        "epochs on your labelled examples with a small learning rate. It is neither training "
        "from scratch (the language knowledge is reused, which is why a few hundred examples "
        "can be enough) nor compression (the model keeps its size)."
    )
    st.page_link(
        "pages/train.py", label="Fine-tune the bundled model", icon=":material/model_training:"
    )


def tokens() -> None:
    st.markdown(
        "BERT never sees characters or whole words: a WordPiece tokenizer cuts the text into "
        "pieces from a fixed vocabulary (a rare word becomes several pieces, the later ones "
        "marked `##`), adds **[CLS]** at the front and **[SEP]** at the end, cuts anything past "
        "`max_length` (keeping [SEP] last), and fills short texts with **[PAD]** up to a common "
        "length. The **attention mask** is 1 on real tokens and 0 on padding so that no token "
        "attends to the filler. Calling `tokenizer(text, return_tensors='pt')` does all of this; "
        "`text.split()` does none of it."
    )
    text = st.text_input(
        "Sentence",
        "Tokenizers aren't magic: unbelievably, they split words!",
        max_chars=MAX_TYPED_TEXT_CHARS,
    )
    length = st.slider("max_length", 4, 48, 32)
    result = lessons.tokenization(studio.tokenizer(), text, length)
    if result.truncated:
        st.warning(
            f"The sentence has {result.total_tokens} tokens with [CLS] and [SEP]; "
            f"everything past position {length - 1} is cut, and [SEP] stays last."
        )
    st.dataframe(pd.DataFrame([row.__dict__ for row in result.rows]), hide_index=True)
    st.caption(f"{result.real_tokens} real tokens, {result.padding} padding.")
    naive = pd.DataFrame(
        {"split() word": result.naive_words, "in the vocabulary as is": result.naive_in_vocabulary}
    )
    left, right = st.columns(2)
    left.dataframe(naive, hide_index=True)
    right.code(result.code, language="python")


def cls_to_decision() -> None:
    st.markdown(
        "The head of a BERT classifier reads one vector: the last layer's output at **[CLS]**, "
        "the position with no word of its own, which learns during fine-tuning to summarise the "
        "text. A linear layer turns it into one **logit** per output. **Softmax** makes the "
        "logits compete (the probabilities sum to 1): one class out of several. **Sigmoid** "
        "squashes each logit on its own: one yes/no question (binary) or one per label "
        "(multi-label). The prediction is the **argmax over the class dimension** of the logits "
        "(softmax keeps the order, so its argmax is the same)."
    )
    ready = [run for run in runs.list_runs() if run.loadable]
    choices = ["The bundled model with an untrained head", *[r.run_id for r in ready]]
    chosen = st.selectbox("Model", choices)
    text = st.text_input(
        "Text", "The staff were friendly and the room was spotless.", max_chars=MAX_TYPED_TEXT_CHARS
    )
    if chosen == choices[0]:
        model, tokenizer = studio.demo_classifier()
        result = lessons.cls_to_decision(model, tokenizer, text)
        st.caption("An untrained head: the arithmetic is real, the decision means nothing.")
    else:
        run = next(r for r in ready if r.run_id == chosen)
        predictor = studio.predictor(str(run.path), run.status.get("finished"))
        result = lessons.cls_to_decision(
            predictor.model,
            predictor.tokenizer,
            text,
            predictor.label_names,
            predictor.problem_type,
            predictor.threshold or 0.5,
        )
    left, right = st.columns(2)
    with left:
        st.markdown(f"[CLS] vector: {len(result.cls_vector)} numbers, the first eight:")
        st.code(", ".join(f"{x:+.3f}" for x in result.cls_vector[:8]), language="text")
        table = pd.DataFrame(
            {"logit": result.logits, "sigmoid": result.sigmoid, "softmax": result.softmax}
        )
        if len(result.logits) == len(result.label_names):
            table.insert(0, "class", result.label_names)
        st.dataframe(exports.neutralised(table), hide_index=True)
        decided = ", ".join(map(render.markdown_literal, result.decision)) or "no label"
        st.markdown(
            f"argmax: **{render.markdown_literal(result.argmax)}**; decision under this head's "
            f"rule: **{decided}**"
        )
        if result.head_logits is not None:
            st.caption(
                "Logits recomputed by hand from [CLS] through the pooler and the linear "
                f"layer: {', '.join(f'{x:+.4f}' for x in result.head_logits)}"
            )
    right.code(result.code, language="python")


def labels_and_loss() -> None:
    st.markdown(
        "A Hugging Face classifier computes its loss only when it is given `labels`. Without "
        "them it still returns logits, but `loss` is `None`, and the training step fails at "
        "`loss.backward()`. Pass the labels with the inputs in every training batch; at "
        "prediction time leave them out."
    )
    snippet("no_labels_no_loss")


def training_settings() -> None:
    st.markdown(
        "- **Batch size and epochs**: a step updates the weights from one batch; an epoch is "
        "one pass over the training set, so steps per epoch = examples / batch size.\n"
        "- **Warm-up**: the learning rate climbs from 0 over the first steps, then decays; "
        "large early updates from a random head would otherwise damage the pre-trained weights.\n"
        "- **Small data overfits**: the model learns the training examples by heart while "
        "validation stops improving. Keep the learning rate small (about 1e-5 to 1e-4), use "
        "dropout and weight decay, train few epochs, and stop early when the validation metric "
        "stops improving (the Train page's patience setting)."
    )
    snippet("warmup_schedule")


def evaluation() -> None:
    st.markdown(
        "- **Accuracy**: the share of right answers; misleading when one class dominates.\n"
        "- **Precision** of a class: of the texts predicted as it, how many are. **Recall**: of "
        "the texts that are it, how many were found. **F1**: their harmonic mean.\n"
        "- **Mean squared error** measures distances between numbers; class ids are names, "
        "not quantities (class 2 is not 'closer' to class 1 than to class 0), so it is not a "
        "classification metric.\n"
        "- **Confusion matrix**: rows are the true classes, columns the predicted ones; the "
        "diagonal is right, every other cell is one kind of mistake.\n"
        "- **Calibration**: whether 80% confidence means right 80% of the time; the "
        "reliability diagram and its expected calibration error (ECE) on Metrics show it."
    )
    snippet("precision_recall_f1")
    snippet("mse_on_class_ids")


def explanations() -> None:
    st.markdown(
        "- **Integrated Gradients** compares the text with a **baseline** that carries no "
        "information (for example [PAD] tokens) and adds up the gradients along the straight "
        "path between them. **Completeness**: the attributions add up to p(text) − p(baseline). "
        "The **convergence delta** is how far they miss that sum, because the integral is "
        "computed with a finite number of steps; a large delta means the numbers are not to be "
        "trusted yet.\n"
        "- **Attention is not attribution**: attention weights say where a layer gathers "
        "information from, not how much a token changed the output; the Explain page puts "
        "attention rollout next to IG and measures how far their rankings agree."
    )
    snippet("integrated_gradients_completeness")
    st.page_link(
        "pages/explain.py", label="Explain your own text", icon=":material/search_insights:"
    )


SECTIONS = [
    ("What BERT is: context from both sides", "bert", both_directions),
    ("Fine-tuning", "bert", fine_tuning),
    ("Tokens, [CLS], [SEP], [PAD] and the attention mask", "inputs", tokens),
    ("From [CLS] to a decision: logits, sigmoid, softmax, argmax", "head", cls_to_decision),
    ("No labels, no loss", "head", labels_and_loss),
    ("Training settings: batches, epochs, warm-up, overfitting", "training", training_settings),
    ("Evaluating a classifier", "evaluation", evaluation),
    ("Explanations: Integrated Gradients and attention", "explanations", explanations),
]

st.title("Learn")
st.markdown(
    "How a small BERT becomes your classifier, one idea at a time, computed live. "
    "Each section ends with practice questions on its topic."
)
for index, (title, topic, lesson) in enumerate(SECTIONS):
    with st.expander(title, expanded=index < 1):
        lesson()
        practise_button(topic, index)
