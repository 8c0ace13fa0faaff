"""Learn: how a BERT classifier is fine-tuned, each idea shown on a live model."""

import pandas as pd
import streamlit as st

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.config import MAX_TYPED_TEXT_CHARS
from bertviz_lib.learn import lessons
from bertviz_lib.learn.quiz import TOPICS
from bertviz_lib.report import exports
from bertviz_lib.report.render import markdown_literal


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
    st.markdown(
        "The whole job, in order:\n"
        "1. Load a pre-trained checkpoint and the tokenizer that belongs to it.\n"
        "2. Turn every text into token ids and an attention mask with that tokenizer.\n"
        "3. Put a fresh linear layer on the [CLS] vector, one output per class (or one for a "
        "yes/no task).\n"
        "4. Train on the labelled examples: the labels go into the forward pass, the loss "
        "comes back, and the optimiser nudges every weight.\n"
        "5. Score the result on validation examples it never trained on, choose the checkpoint "
        "there, and report the final number on a test set kept out of every choice."
    )
    st.page_link(
        "app_pages/train.py", label="Fine-tune the bundled model", icon=":material/model_training:"
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


@st.cache_resource(show_spinner="Loading the bundled model with a one-output head…")
def binary_demo():
    return lessons.demo_classifier(num_labels=1)


def cls_to_decision() -> None:
    st.markdown(
        "The head of a BERT classifier reads one vector: the last layer's output at **[CLS]**, "
        "the position with no word of its own, which learns during fine-tuning to summarise the "
        "text. A linear layer turns it into one **logit** per output. **Softmax** makes the "
        "logits compete (the probabilities sum to 1): one class out of several. **Sigmoid** "
        "squashes each logit on its own: one yes/no question (binary) or one per label "
        "(multi-label). The decision follows the head, and every page of this app uses the same "
        "rule:\n"
        "- a softmax head predicts the **argmax over the class dimension** (softmax keeps the "
        "order of the logits, so the argmax of the logits is the same);\n"
        "- a one-output (binary) head predicts the positive class when **sigmoid(logit) reaches "
        "the run's threshold** (0.5 unless you set another on the Train page); an argmax over a "
        "single logit is always 0 and decides nothing;\n"
        "- a multi-label head keeps **every label whose sigmoid reaches the threshold**."
    )
    st.markdown(
        "**A trap in Hugging Face transformers:** `num_labels=1` on its own does not mean "
        "'binary'. With one output and no `problem_type`, the model treats the task as "
        "regression and trains it with mean squared error. For two classes use `num_labels=2` "
        "(softmax, cross-entropy), or one output with "
        "`problem_type='multi_label_classification'` and float labels (sigmoid, binary "
        "cross-entropy), which is what this app's binary head does."
    )
    ready = [run for run in runs.list_runs() if run.loadable]
    demos = [
        "The bundled model with an untrained two-class head",
        "The bundled model with an untrained one-output (binary) head",
    ]
    chosen = st.selectbox("Model", [*demos, *[r.run_id for r in ready]])
    text = st.text_input(
        "Text", "The staff were friendly and the room was spotless.", max_chars=MAX_TYPED_TEXT_CHARS
    )
    if chosen == demos[0]:
        model, tokenizer = studio.demo_classifier()
        result = lessons.cls_to_decision(model, tokenizer, text)
        st.caption("An untrained head: the arithmetic is real, the decision means nothing.")
    elif chosen == demos[1]:
        model, tokenizer = binary_demo()
        threshold = st.slider("Threshold", 0.05, 0.95, 0.5, 0.05)
        result = lessons.cls_to_decision(
            model, tokenizer, text, ["negative", "positive"], "binary", threshold
        )
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
        decided = ", ".join(markdown_literal(label) for label in result.decision) or "no label"
        st.markdown(f"Rule: {markdown_literal(result.rule)}. Decision: **{decided}**")
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
        "- **Warm-up**: over the first warmup_ratio of the steps the learning rate climbs in "
        "equal steps to its peak (with N warm-up steps, step k uses (k + 1) / N of it, so even "
        "the first update learns a little), then it falls linearly towards 0. Full-size updates "
        "from a random head would otherwise damage the pre-trained weights.\n"
        "- **Too high a learning rate diverges**: the loss climbs from the first steps instead "
        "of falling, and a wrecked model falls back to predicting the largest class. That is "
        "not overfitting, and the fix is a smaller learning rate.\n"
        "- **Small data overfits**: the model learns the training examples by heart while "
        "validation stops improving. Keep the learning rate small (about 1e-5 to 1e-4), use "
        "dropout and weight decay, train few epochs, and stop early when the validation metric "
        "stops improving (the Train page's patience setting). You see it coming when the "
        "training loss keeps falling while the validation loss rises.\n"
        "- **Class weights** (class_weights=auto) make every class add the same total to the "
        "loss: each text is weighted by total / (classes × its class's count), so a rare class "
        "cannot be ignored cheaply. Expect its recall to rise and its precision to fall.\n"
        "- **Losses**: a softmax head trains with cross-entropy, a sigmoid head with "
        "BCE-with-logits. Both take the raw logits and apply the softmax or sigmoid themselves; "
        "applying a softmax before cross-entropy squashes the outputs twice and stalls training."
    )
    snippet("warmup_schedule")


def evaluation() -> None:
    st.markdown(
        "- **Accuracy**: the share of right answers; misleading when one class dominates.\n"
        "- **Precision** of a class: of the texts predicted as it, how many are. **Recall**: of "
        "the texts that are it, how many were found. **F1**: their harmonic mean, high only "
        "when both are.\n"
        "- **Mean squared error on class ids** is not a classification score: ids are names, "
        "not quantities ('tech' is not halfway between 'billing' and 'sales'). Mean squared "
        "error on the **predicted probabilities** against 0/1 outcomes is another matter: that "
        "is the **Brier score**, a proper score that rewards probabilities that are sharp and "
        "right (always answering 0.5 scores 0.25 on a yes/no task).\n"
        "- **Confusion matrix**: rows are the true classes, columns the predicted ones; the "
        "diagonal is right, every other cell is one kind of mistake.\n"
        "- **ROC-AUC and PR-AUC** sweep every threshold and look only at how the scores rank "
        "texts. ROC-AUC is the chance that a random positive outscores a random negative; "
        "PR-AUC averages precision over recall, so on a rare class it shows the false alarms "
        "that ROC-AUC hides. Moving the threshold changes neither.\n"
        "- **Calibration**: whether 80% confidence means right 80% of the time. A low expected "
        "calibration error (ECE) on the validation set says that there, on average over the "
        "confidence bins, stated confidence matched the hit rate; single bins can still be off, "
        "and new data can differ.\n"
        "- **Train, validation, test**: fit on training data, make every choice (checkpoint, "
        "epochs, threshold, settings) on validation, report once on a test set. Choosing the "
        "best of many runs on validation favours lucky ones, so that score is optimistic.\n"
        "- **Seeds**: the same settings with another seed (head initialisation, batch order, "
        "dropout) land a few points apart on small data. Compare settings by the mean and "
        "spread over several seeds, not by one run each."
    )
    snippet("precision_recall_f1")
    snippet("mse_on_class_ids")


def explanations() -> None:
    st.markdown(
        "- **Integrated Gradients** compares the text with a **baseline** that carries no "
        "information (for example [PAD] tokens) and adds up the gradients along the straight "
        "path between them. **Completeness**: the attributions add up to p(text) − p(baseline). "
        "The **convergence delta** is how far they miss that sum, because the integral is "
        "computed at a finite number of points; a large delta means the numbers are not to be "
        "trusted yet. The Explain page's auto mode refines the path where the error is, up to "
        "128 gradient evaluations, and says whether the delta got under your tolerance.\n"
        "- **Attention is not attribution**: attention weights say where a layer gathers "
        "information from, not how much a token changed the output. Attribution targets 'why "
        "this prediction' more directly, but it must itself be checked: its delta, occlusion, "
        "and the deletion curves and AOPC on the Explain page's Faithfulness tab. The Attention "
        "tab puts attention rollout next to IG and measures how far their rankings agree."
    )
    snippet("integrated_gradients_completeness")
    st.page_link(
        "app_pages/explain.py", label="Explain your own text", icon=":material/search_insights:"
    )


SECTIONS = [
    ("What BERT is: context from both sides", "bert", both_directions),
    ("Fine-tuning", "bert", fine_tuning),
    ("Tokens, [CLS], [SEP], [PAD] and the attention mask", "inputs", tokens),
    ("From [CLS] to a decision: logits, sigmoid, softmax, rules", "head", cls_to_decision),
    ("No labels, no loss", "head", labels_and_loss),
    ("Training: steps, warm-up, overfitting, weights, losses", "training", training_settings),
    ("Evaluating: metrics, Brier, AUC, calibration, splits", "evaluation", evaluation),
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
