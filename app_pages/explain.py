"""Explain: which tokens moved one prediction, how far to trust that, and where [CLS] looks."""

import json
from dataclasses import asdict

import numpy as np
import streamlit as st

from app_pages import studio
from bertviz_lib.config import IG_TOLERANCE, MAX_TYPED_TEXT_CHARS
from bertviz_lib.explain import (
    ACROSS_DATA_TOLERANCE,
    BASELINES,
    METHODS,
    TITLES,
    TOLERANCES,
    attention_maps_of,
    class_tokens,
    examples_per_class,
    filler_for,
    method_options,
)
from bertviz_lib.explain.attention import rank_agreement
from bertviz_lib.report import charts, render


def choose_text(run) -> str:
    sent = st.session_state.pop(studio.EXPLAIN_TEXT, None)
    if sent is not None:
        st.session_state["explain.source"] = "Type or paste a text"
        st.session_state["explain.typed"] = sent
    source = st.radio(
        "Text to explain",
        ["Type or paste a text", "A validation example"],
        horizontal=True,
        key="explain.source",
    )
    if source == "A validation example":
        table = run.predictions()
        if table is None or table.empty:
            st.info("This run kept no validation predictions.")
            return ""
        rows = table.to_dict("records")
        row = st.selectbox(
            "Validation example",
            rows,
            key="explain.example",
            format_func=lambda r: f"[{r['true_label']} → {r['predicted_label']}] {r['text'][:90]}",
        )
        return row["text"]
    return st.text_area("Text", placeholder="Type a sentence to explain", key="explain.typed",
                        max_chars=MAX_TYPED_TEXT_CHARS)  # fmt: skip


def settings(model, probabilities) -> dict:
    predicted = max(probabilities, key=probabilities.get)
    first, second, third, fourth = st.columns(4)
    target = first.selectbox(
        "Explain the class", model.label_names, index=model.label_names.index(predicted)
    )
    baseline = second.selectbox(
        "Baseline",
        BASELINES,
        help="What 'no information' means: [PAD] tokens, [MASK] tokens, "
        "or zero embeddings between [CLS] and [SEP].",
    )
    tolerance = third.select_slider(
        "Tolerance on |delta|",
        TOLERANCES,
        IG_TOLERANCE,
        help="Integrated Gradients refines its path until its summed error is below this.",
    )
    image = fourth.radio(
        "Chart downloads as",
        ["png", "svg"],
        horizontal=True,
        help="The camera icon on each chart saves it in this format.",
    )
    methods = st.multiselect("Methods", METHODS, default=list(METHODS), format_func=TITLES.get)
    return {
        "target": target,
        "baseline": baseline,
        "tolerance": tolerance,
        "config": {"toImageButtonOptions": {"format": image}},
        "methods": methods,
    }


def options_for(method: str, chosen: dict) -> tuple:
    """The options as a sorted tuple: hashable, for the cached explanation."""
    options = method_options(method, target=chosen["target"], baseline=chosen["baseline"],
                             tolerance=chosen["tolerance"])  # fmt: skip
    return tuple(sorted(options.items()))


def trust_note(result, tolerance: float) -> tuple[str, str]:
    """(kind, sentence): how far this method's numbers can be trusted on this text."""
    if result.method == "integrated_gradients":
        tries = ", ".join(f"{n}: {d:+.4f}" for n, d in result.tries)
        verdict = "success" if result.converged else "warning"
        head = "Converged" if result.converged else "Not converged: read with care"
        return verdict, (
            f"{head}. Completeness delta {result.delta:+.4f} (tolerance {tolerance}) "
            f"after {result.n_steps} gradient evaluations; tries {tries}."
        )
    if result.method == "kernel_shap":
        return "info", (
            f"Shapley values should add up to p − p(baseline); these miss by "
            f"{result.delta:+.4f} with {result.n_samples} samples."
        )
    if result.method == "lime":
        return "info", (
            f"Coefficients of a linear fit to {result.n_samples} masked copies: "
            "no completeness to check; see the faithfulness tab."
        )
    if result.method == "occlusion":
        return "info", "The drop in probability when each token alone is replaced."
    return "info", "One gradient, no path: cheap, and blind where the model saturates."


def attributions_tab(results: dict, chosen: dict, text: str, run, probability: float) -> None:
    per_word = st.toggle("Per word (WordPiece pieces summed)", value=True)
    for method, result in results.items():
        st.subheader(TITLES[method])
        kind, note = trust_note(result, chosen["tolerance"])
        getattr(st, kind)(note)
        if per_word:
            st.html(render.token_heatmap(result.words, result.word_attributions))
        else:
            st.html(render.token_heatmap(result.tokens, result.token_attributions))
    first = next(iter(results.values()))
    by_method = {TITLES[m]: r.word_attributions for m, r in results.items()}
    st.plotly_chart(charts.method_comparison(first.words, by_method), config=chosen["config"])
    shown = st.selectbox("Top words of", list(results), format_func=TITLES.get)
    st.plotly_chart(
        charts.top_words(
            results[shown].words,
            results[shown].word_attributions,
            title=f"Top words: {TITLES[shown]}",
        ),
        config=chosen["config"],
    )
    report = render.explanation_report(
        f"Explanation: {run.run_id}",
        text,
        [
            ("Run", run.run_id),
            ("Class explained", chosen["target"]),
            ("What is attributed", f"the predicted probability of this class ({probability:.1%})"),
        ],
        [
            (TITLES[m], r.words, r.word_attributions, trust_note(r, chosen["tolerance"])[1])
            for m, r in results.items()
        ],
    )
    left, right = st.columns(2)
    left.download_button(
        "Explanation (HTML)", report, f"{run.run_id}-explanation.html", "text/html"
    )
    right.download_button(
        "Explanation (JSON)",
        json.dumps({m: asdict(r) for m, r in results.items()}, indent=2),
        f"{run.run_id}-explanation.json",
        "application/json",
    )


def faithfulness_tab(run, text: str, chosen: dict) -> None:
    filler = filler_for(chosen["baseline"])
    requests = tuple((m, options_for(m, chosen)) for m in chosen["methods"])
    check = studio.faithfulness_check(
        str(run.path), run.status.get("finished"), text, requests, filler, model.calibrated
    )
    st.caption(
        f"Tokens are replaced by [{filler.upper()}] in the order each method ranks them "
        "(most in favour of the class first). Comprehensiveness: the mean drop when the top "
        "tokens are taken away (higher is better). Sufficiency: the mean drop when only "
        "they are kept (lower is better). Random: the mean of 10 random orders."
    )
    st.plotly_chart(charts.faithfulness_curves(check.curves, TITLES), config=chosen["config"])
    rows = [
        {
            "method": TITLES.get(c.name, c.name),
            "comprehensiveness": c.comprehensiveness,
            "sufficiency": c.sufficiency,
            "verdict": "" if c.name == "random" else check.verdict(c.name),
        }
        for c in check.curves
    ]
    st.dataframe(rows, hide_index=True)
    st.markdown(
        f"On this text, **{TITLES[check.most_faithful()]}** ranks the tokens most faithfully "
        "(largest comprehensiveness minus sufficiency)."
    )


def layers_tab(run, text: str, chosen: dict) -> None:
    st.caption(
        "Integrated Gradients at the output of each encoder layer: where the evidence "
        "for the class sits as the text moves up the network. Each row sums to "
        "p − p(baseline), like the word-level attributions. At the last layer the head reads [CLS] "
        "alone, so the evidence gathers there; the lower rows show the tokens it was taken from."
    )
    if not st.toggle("Compute layer by layer (one IG per layer)", key="explain.layers"):
        return
    options = (("baseline", chosen["baseline"]), ("target", chosen["target"]),
               ("tolerance", chosen["tolerance"]))  # fmt: skip
    layers = studio.layers_of(
        str(run.path), run.status.get("finished"), text, options, model.calibrated
    )
    st.plotly_chart(charts.layer_heatmap(layers.tokens, layers.values), config=chosen["config"])
    deltas = ", ".join(f"{d:+.4f}" for d in layers.deltas)
    kind = st.success if layers.converged else st.warning
    kind(f"Convergence delta per layer: {deltas} (tolerance {chosen['tolerance']}).")


def attention_tab(model, text: str, results: dict, chosen: dict) -> None:
    maps = attention_maps_of(model, text)
    layers, heads = maps.attentions.shape[:2]
    left, right = st.columns(2)
    layer = left.selectbox("Layer", range(layers), format_func=lambda i: f"layer {i + 1}")
    head = right.selectbox("Head", range(heads), format_func=lambda i: f"head {i + 1}")
    st.plotly_chart(
        charts.attention_head(maps.attentions[layer, head], maps.tokens, layer, head),
        config=chosen["config"],
    )
    st.plotly_chart(charts.attention_grid(maps.cls_rows, maps.tokens), config=chosen["config"])
    inner = slice(1, len(maps.tokens) - 1)  # without [CLS] and [SEP]
    rolled = maps.rollout()[inner]
    series = {"rollout": rolled / max(rolled.max(), 1e-12)}
    agreements = []
    if "integrated_gradients" in results:
        ig = np.abs(np.array(results["integrated_gradients"].token_attributions))[inner]
        series["|IG| (scaled)"] = ig / max(ig.max(), 1e-12)
        for name, values in (
            ("rollout", rolled),
            ("last-layer mean", maps.cls_rows[-1].mean(0)[inner]),
        ):
            value = rank_agreement(values, ig)
            agreements.append(f"{name} **{'n/a' if value is None else f'{value:+.2f}'}**")
    st.plotly_chart(
        charts.token_bars(
            maps.tokens[inner],
            series,
            "Attention rollout from [CLS] against |Integrated Gradients|",
        ),
        config=chosen["config"],
    )
    if agreements:
        st.markdown("Spearman rank agreement with |IG|: " + ", ".join(agreements) + ".")
    st.caption(
        "Attention weights say where each layer mixes information from, not how much a token "
        "changed the output: values pass through further layers, residual paths and the head. "
        "Attributions are checked against the output itself, so when the two disagree, believe "
        "the attribution whose convergence check passed."
    )


@st.cache_data(show_spinner=False, max_entries=16)
def tokens_per_class(
    run_path: str, finished_at, method: str, per_class: int, calibrated: bool, _progress=None
):
    run_model = studio.predictor(run_path, finished_at, calibrated)
    from bertviz_lib.explain import explain
    from bertviz_lib.runs import load_run

    examples = examples_per_class(
        load_run(run_path).predictions(), run_model.label_names, run_model.problem_type, per_class
    )
    options = method_options(method, tolerance=ACROSS_DATA_TOLERANCE)
    return class_tokens(
        lambda text, label: explain(run_model, text, method, target=label, **options),
        examples,
        on_progress=_progress,
    )


def across_data_tab(run, chosen: dict) -> None:
    st.caption(
        "The words with the largest mean attribution towards each class, over validation "
        "texts predicted as that class (a word must appear in at least 2 of them)."
    )
    left, right = st.columns(2)
    method = left.selectbox(
        "Method",
        ["gradient_x_input", "integrated_gradients"],
        format_func=TITLES.get,
        key="explain.data_method",
    )
    per_class = right.slider("Texts per class", 5, 100, 20, key="explain.per_class")
    if not st.toggle("Compute across the validation data", key="explain.across"):
        return
    bar = st.progress(0.0, text="Explaining validation texts…")
    result = tokens_per_class(
        str(run.path),
        run.status.get("finished"),
        method,
        per_class,
        model.calibrated,
        _progress=lambda done, total: bar.progress(done / total, f"{done}/{total}"),
    )
    bar.empty()
    st.caption(f"{result.examples} texts explained with {TITLES[result.method or method]}.")
    for label, top in result.top.items():
        if not top:
            name = render.markdown_literal(label)
            st.info(f"{name}: no word appears in two or more of its texts.")
            continue
        words, values, _ = zip(*top, strict=True)
        st.plotly_chart(
            charts.top_words(list(words), list(values), title=f"Towards '{label}'"),
            config=chosen["config"],
            key=f"class-{label}",
        )


st.title("Explain")
run, model = studio.chosen_run_and_model(calibration_choice=True)
text = choose_text(run)
if not text.strip():
    st.stop()
probabilities = model.predict([text])[0].probabilities
chosen = settings(model, probabilities)
target_name = render.markdown_literal(chosen["target"])
st.caption(
    f"What is attributed: the predicted probability of '{target_name}' "
    f"({probabilities[chosen['target']]:.1%} for this text)."
)
if not chosen["methods"]:
    st.info("Choose at least one method.")
    st.stop()
finished = run.status.get("finished")
with st.spinner("Explaining…"):
    results = {
        m: studio.explanation(
            str(run.path), finished, text, m, options_for(m, chosen), model.calibrated
        )
        for m in chosen["methods"]
    }
first = next(iter(results.values()))
if first.truncated:
    st.info(
        f"The text has {first.total_tokens} tokens; the model reads, and this explains, the "
        f"first {len(first.tokens)}."
    )
tabs = st.tabs(["Attributions", "Faithfulness", "Layers", "Attention", "Across the data"])
with tabs[0]:
    attributions_tab(results, chosen, text, run, probabilities[chosen["target"]])
with tabs[1]:
    faithfulness_tab(run, text, chosen)
with tabs[2]:
    layers_tab(run, text, chosen)
with tabs[3]:
    attention_tab(model, text, results, chosen)
with tabs[4]:
    across_data_tab(run, chosen)
