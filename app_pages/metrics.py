"""Metrics: how well a run does on its validation data, and where it goes wrong."""

import pandas as pd
import streamlit as st

from app_pages import insight_tabs, studio
from bertviz_lib import runs
from bertviz_lib.config import CONFUSION_TOP_CLASSES
from bertviz_lib.report import charts, exports
from bertviz_lib.report.render import markdown_literal
from bertviz_lib.runs import predictions

HEADLINE = {"accuracy": "Accuracy", "macro_f1": "Macro-F1", "micro_f1": "Micro-F1",
            "roc_auc": "ROC-AUC", "ece": "ECE"}  # fmt: skip

st.title("Metrics")
finished = studio.loadable_runs()

ids = [r.run_id for r in finished]
chosen = st.multiselect("Runs (up to three to compare)", ids, default=ids[:1], max_selections=3)
if not chosen:
    st.stop()
selected = [next(r for r in finished if r.run_id == run_id) for run_id in chosen]

if len(selected) > 1:
    st.subheader("Comparison")
    st.dataframe(exports.neutralised(pd.DataFrame([
        {"run": r.run_id, "problem type": r.config.get("problem_type"),
         **{label: r.metrics.get(key) for key, label in HEADLINE.items()}}
        for r in selected
    ])), hide_index=True)  # fmt: skip


def headline(metrics: dict) -> None:
    shown = [
        (label, metrics[key]) for key, label in HEADLINE.items() if metrics.get(key) is not None
    ]
    for column, (label, value) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, f"{value:.3f}")
    if metrics.get("problem_type") == "binary":
        st.caption(f"Positive class: {markdown_literal(metrics['positive_label'])} — precision "
                   f"{metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
                   f"F1 {metrics['f1']:.3f}.")  # fmt: skip


def confusion(metrics: dict, key: str) -> None:
    normalise = st.toggle("Normalise rows", key=f"normalise-{key}")
    if "confusion_matrix" in metrics:
        names = metrics["label_names"]
        figure = charts.confusion_matrix(metrics["confusion_matrix"], names, normalise,
                                         top=CONFUSION_TOP_CLASSES)  # fmt: skip
        if len(names) > CONFUSION_TOP_CLASSES:
            st.caption(f"The {CONFUSION_TOP_CLASSES} classes with the most validation examples; "
                       f"the other {len(names) - CONFUSION_TOP_CLASSES} are summed in the last "
                       "row and column.")  # fmt: skip
        st.plotly_chart(figure, key=f"confusion-{key}")
        return
    label = st.selectbox("Label", metrics["label_names"], key=f"label-{key}")
    matrix = metrics["confusion_matrices"][metrics["label_names"].index(label)]
    st.plotly_chart(charts.confusion_matrix(matrix, [f"not {label}", label], normalise),
                    key=f"confusion-{key}")  # fmt: skip


def curves(metrics: dict, table: pd.DataFrame, events: list[dict], key: str) -> None:
    names, problem_type = metrics["label_names"], metrics["problem_type"]
    y_true, probabilities = predictions.arrays(table, names, problem_type)
    colours = charts.class_colours(names)
    left, right = st.columns(2)
    left.plotly_chart(charts.roc_curves(y_true, probabilities, names, problem_type, colours),
                      key=f"roc-{key}")  # fmt: skip
    right.plotly_chart(charts.pr_curves(y_true, probabilities, names, problem_type, colours),
                       key=f"pr-{key}")  # fmt: skip
    left, right = st.columns(2)
    left.plotly_chart(charts.reliability_diagram(metrics["calibration"], metrics["ece"]),
                      key=f"reliability-{key}")  # fmt: skip
    right.plotly_chart(charts.loss_curves(events), key=f"loss-{key}")
    left, right = st.columns(2)
    left.plotly_chart(charts.learning_rate_curve(events), key=f"lr-{key}")
    right.plotly_chart(charts.epoch_metrics(events), key=f"epochs-{key}")


def explain_one(run: runs.Run, wrong: pd.DataFrame, key: str) -> None:
    if wrong.empty or not run.loadable:
        return
    texts = wrong["text"].tolist()
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    pick = left.selectbox("See why the model got one wrong", range(len(texts)), key=f"pick-{key}",
                          format_func=lambda i: texts[i][:100])  # fmt: skip
    if right.button("Open in Explain", key=f"explain-{key}", icon=":material/search_insights:"):
        studio.open_in_explain(run.run_id, texts[pick])


def delete_button(run: runs.Run, key: str) -> None:
    st.caption(f"Deleting removes the folder {markdown_literal(run.run_id)}/: its model, its "
               "predictions and its copy of the data it was trained on. Every visitor of this "
               "studio sees the run and can delete it.")  # fmt: skip
    sure = st.checkbox("Yes, delete this run and its data", key=f"sure-{key}")
    if st.button(
        "Delete the run", key=f"delete-{key}", disabled=not sure, icon=":material/delete:"
    ):
        try:
            runs.delete_run(run.path)
        except (runs.RunError, OSError) as error:
            st.error(markdown_literal(f"{run.run_id} was not deleted: {error}"))
            return
        st.rerun()


def downloads(run: runs.Run, metrics: dict, table: pd.DataFrame, key: str) -> None:
    left, middle, right = st.columns(3)
    left.download_button(
        "Metrics (JSON)",
        exports.metrics_json(metrics),
        f"{run.run_id}-metrics.json",
        "application/json",
        key=f"json-{key}",
    )
    middle.download_button(
        "Predictions (CSV)",
        exports.safe_csv(table),
        f"{run.run_id}-predictions.csv",
        "text/csv",
        key=f"csv-{key}",
    )
    if right.toggle("Prepare the model as a zip", key=f"zip-toggle-{key}"):
        calibrated = right.checkbox(
            "With its calibrated temperature", value=True, key=f"zip-calibrated-{key}",
            help="transformers.pipeline() then gives the calibrated probabilities, as Predict "
            "does; unticked, the model as trained.",
        )  # fmt: skip
        right.download_button(
            "Model (zip)",
            studio.model_zip(str(run.path), run.status.get("finished"), calibrated),
            f"{run.run_id}-model.zip",
            "application/zip",
            key=f"zip-{key}",
        )


for run in selected:
    st.header(markdown_literal(run.run_id))
    key = run.run_id
    metrics, table = run.metrics, run.predictions()  # each read once: they are files
    headline(metrics)
    overview, charts_tab, errors_tab, map_tab, baseline_tab, calibration_tab, settings_tab = (
        st.tabs(["Per class", "Charts", "Misclassified", "Data map", "Baseline", "Calibration",
                 "Settings and data"])
    )  # fmt: skip
    with overview:
        st.dataframe(exports.neutralised(pd.DataFrame(metrics["per_class"])), hide_index=True)
        confusion(metrics, key)
    with charts_tab:
        curves(metrics, table, run.events(), key)
    with errors_tab:
        wrong = predictions.mistakes(table)
        st.caption(f"{len(wrong)} misclassified validation examples, most confident first.")
        st.dataframe(exports.neutralised(wrong), hide_index=True)
        explain_one(run, wrong, key)
    with map_tab:
        insight_tabs.data_map_tab(run, key)
    with baseline_tab:
        insight_tabs.baseline_tab(run, metrics, table, key)
    with calibration_tab:
        insight_tabs.calibration_tab(run, key)
    with settings_tab:
        st.json(run.config, expanded=False)
        delete_button(run, key)
    downloads(run, metrics, table, key)
