"""Explain: which tokens moved one prediction, how far to trust that, and where [CLS] looks."""

import numpy as np
import streamlit as st

from bertviz_lib import charts, render
from bertviz_lib.attention import attention_maps, rank_agreement
from bertviz_lib.explain import BASELINES, explain
from pages import studio

METHODS = {
    "integrated_gradients": "Integrated Gradients",
    "gradient_x_input": "Gradient × input",
    "occlusion": "Occlusion",
}

st.title("Explain")
run, model = studio.chosen_run_and_model()
text = st.text_area("Text", value="", placeholder="Type a sentence to explain")
if not text.strip():
    st.stop()

probabilities = model.predict([text])[0].probabilities
predicted = max(probabilities, key=probabilities.get)
left, middle, right = st.columns(3)
target = left.selectbox("Explain the class", model.label_names,
                        index=model.label_names.index(predicted))  # fmt: skip
baseline = middle.selectbox("Baseline", BASELINES,
                            help="What 'no information' means: [PAD] tokens, [MASK] tokens, "
                            "or zero embeddings between [CLS] and [SEP].")  # fmt: skip
tolerance = right.select_slider("Tolerance on |delta|", [0.001, 0.005, 0.01, 0.05, 0.1], 0.01)
st.caption(f"What is attributed: the predicted probability of '{target}' "
           f"({probabilities[target]:.1%} for this text).")  # fmt: skip


def badge(result) -> None:
    tries = ", ".join(f"{n}: {d:+.4f}" for n, d in result.tries)
    if result.converged:
        st.success(f"Trustworthy by completeness: |delta| {abs(result.delta):.4f} < {tolerance} "
                   f"with {result.n_steps} steps (tries {tries}).")  # fmt: skip
    else:
        st.warning(f"Not converged: |delta| {abs(result.delta):.4f} ≥ {tolerance} after "
                   f"{result.n_steps} steps (tries {tries}); read these numbers with "
                   "care.")  # fmt: skip


results = {}
for method, title in METHODS.items():
    options = {"target": target}
    if method == "integrated_gradients":
        options.update(baseline=baseline, tolerance=tolerance)
    elif baseline != "zero" and method == "occlusion":
        options["baseline"] = baseline
    results[method] = result = explain(model, text, method, **options)
    st.subheader(title)
    if result.truncated:
        st.info(f"The text has {result.total_tokens} tokens; the model reads and this explains "
                f"the first {len(result.tokens)}.")  # fmt: skip
    if result.delta is not None:
        badge(result)
    st.html(render.token_heatmap(result.words, result.word_attributions))

st.subheader("Attention")
maps = attention_maps(model.model, model.tokenizer, text, model.max_length)
st.plotly_chart(charts.attention_grid(maps.cls_rows, maps.tokens))
rolled = maps.rollout()
ig = np.array(results["integrated_gradients"].token_attributions)
inner = slice(1, len(maps.tokens) - 1)  # without [CLS] and [SEP]
agreement = rank_agreement(rolled[inner], np.abs(ig[inner]))
last_layer = maps.cls_rows[-1].mean(axis=0)
agreement_last = rank_agreement(last_layer[inner], np.abs(ig[inner]))
st.plotly_chart(charts.token_bars(
    maps.tokens[inner], {"rollout": rolled[inner] / max(rolled[inner].max(), 1e-12),
                         "|IG| (scaled)": np.abs(ig[inner]) / max(np.abs(ig[inner]).max(), 1e-12)},
    "Attention rollout from [CLS] against |Integrated Gradients|"))  # fmt: skip
shown = "n/a" if agreement is None else f"{agreement:+.2f}"
shown_last = "n/a" if agreement_last is None else f"{agreement_last:+.2f}"
st.markdown(f"Spearman rank agreement with |IG|: rollout **{shown}**, last-layer mean "
            f"attention **{shown_last}**.")  # fmt: skip
st.caption(
    "Attention weights say where each layer mixes information from, not how much a token "
    "changed the output: values pass through further layers, residual paths and the head. "
    "Attributions are checked against the output itself, so when the two disagree, believe "
    "the attribution whose convergence check passed."
)
