"""The Metrics page's tabs on what a run learned about its data (bertviz_lib/insight): the data
map and its suspected label errors, the baseline beside the fine-tuned model, the calibration."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import studio
from bertviz_lib import runs
from bertviz_lib.insight import baseline, calibration, cartography
from bertviz_lib.report import charts, exports
from bertviz_lib.report.render import markdown_literal

NO_MAP = (
    "This run has no data map: it stopped before its first epoch ended, or was trained before "
    "training dynamics were recorded."
)


def data_map_tab(run: runs.Run, key: str) -> None:
    frame = cartography.read(run.path)
    if frame is None or frame.empty:
        st.info(NO_MAP)
        return
    counts = cartography.region_counts(frame)
    epochs = cartography.epochs(frame)
    st.caption(
        f"Each training row by the probability the model gave its label at each of the {epochs} "
        "epochs, read from the training steps themselves (dataset cartography, Swayamdipta et "
        "al., 2020): confidence is its mean, variability its spread, correctness the share of "
        f"epochs the row was predicted right. {counts[cartography.EASY]} rows are easy to learn, "
        f"{counts[cartography.AMBIGUOUS]} ambiguous (variability from "
        f"{cartography.AMBIGUOUS_VARIABILITY:g}) and {counts[cartography.HARD]} hard to learn "
        f"(confidence under {cartography.EASY_CONFIDENCE:g}): mislabelled rows gather there."
    )
    figure = charts.data_map(
        frame[cartography.CONFIDENCE], frame[cartography.VARIABILITY],
        frame[cartography.CORRECTNESS], frame[cartography.TEXT], frame[cartography.LABEL],
        cartography.AMBIGUOUS_VARIABILITY, cartography.EASY_CONFIDENCE,
    )  # fmt: skip
    st.plotly_chart(figure, key=f"data-map-{key}")

    st.subheader("Suspected label errors")
    top = st.number_input("Rows to list", 1, len(frame), min(cartography.DEFAULT_TOP, len(frame)),
                          key=f"suspects-top-{key}")  # fmt: skip
    suspects = cartography.suspects(frame, int(top))
    st.caption(
        "Low confidence, low variability: the rows whose label the model most consistently "
        "disagreed with, most suspicious first, with the label it preferred. Read them: a "
        "wrong label here taught the model the wrong thing."
    )
    shown = suspects[[*cartography.SUSPECT_COLUMNS, cartography.REGION]]
    st.dataframe(exports.neutralised(shown), hide_index=True)
    texts = shown[cartography.TEXT].tolist()
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    pick = left.selectbox("See why the model disagrees with one", range(len(texts)),
                          key=f"suspect-pick-{key}",
                          format_func=lambda i: texts[i][:100])  # fmt: skip
    if right.button("Open in Explain", key=f"suspect-explain-{key}",
                    icon=":material/search_insights:"):  # fmt: skip
        studio.open_in_explain(run.run_id, texts[pick])
    st.download_button("Suspected label errors (CSV)", cartography.suspects_csv(suspects),
                       f"{run.run_id}-suspects.csv", "text/csv",
                       key=f"suspects-csv-{key}")  # fmt: skip


def baseline_tab(run: runs.Run, metrics: dict, table: pd.DataFrame, key: str) -> None:
    written = baseline.read(run.path)
    if not written:
        st.info("This run fitted no baseline (the `baseline` setting was off, or it was trained "
                "before baselines were fitted).")  # fmt: skip
        return
    if "error" in written:
        st.warning(markdown_literal(f"The baseline could not be fitted: {written['error']}"))
        return
    theirs = written["metrics"]
    st.caption(
        f"{written['model']}, fitted on the same {written['train_rows']} training rows in "
        f"{written['seconds']:.1f} s and scored on the same {written['validation_rows']} "
        "validation rows. Where it comes close, the labels follow words more than meaning."
    )
    side_by_side = baseline.headline(metrics, theirs)
    st.dataframe(exports.neutralised(side_by_side), hide_index=True)
    per_class = baseline.per_class_f1(metrics, theirs)
    st.plotly_chart(charts.f1_side_by_side(per_class["label"], per_class["fine-tuned"],
                                           per_class["baseline"]),
                    key=f"baseline-f1-{key}")  # fmt: skip
    mine_only, theirs_only = baseline.disagreements(
        table, written["predicted_labels"], metrics["problem_type"]
    )
    left, right = st.columns(2)
    left.markdown(f"**Only the fine-tuned model gets these right** ({len(mine_only)})")
    left.dataframe(exports.neutralised(mine_only), hide_index=True)
    right.markdown(f"**Only the baseline gets these right** ({len(theirs_only)})")
    right.dataframe(exports.neutralised(theirs_only), hide_index=True)


def calibration_tab(run: runs.Run, key: str) -> None:
    report = calibration.read(run.path)
    if not report:
        st.info("This run kept no calibration: it was trained before temperatures were fitted.")
        return
    if "skipped" in report:
        st.info(markdown_literal(f"No temperature was fitted: {report['skipped']}"))
        return
    temperatures = report["temperatures"]
    if "unchanged" in report:
        st.info(report["unchanged"])
    if len(temperatures) == 1:
        direction = calibration.effect(temperatures[0])
        st.markdown(
            f"**Temperature {temperatures[0]:.3f}**: the logits are divided by it, which "
            f"{direction}; the predicted class stays the same."
        )
    else:
        st.markdown("**A temperature per label**: each label's logit is divided by its own.")
        table = calibration.temperature_table(report, run.config.get("label_names") or [])
        st.dataframe(exports.neutralised(table), hide_index=True)
    st.caption(
        f"{report['method']}. The validation rows are cut into two random halves; the "
        "temperature fitted on each half scores the other, so every figure after calibration "
        "comes from rows its temperature never saw. The temperature kept is fitted on all of "
        "them. Predict, Explain and the exported model use it unless you switch it off."
    )
    before, after = report["before"], report["after"]
    st.markdown(f"**{calibration.verdict(report)}**")
    st.dataframe(exports.neutralised(calibration.figures_table(report)), hide_index=True)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.reliability_diagram(before["calibration"], before["ece"], "Before calibration"),
        key=f"reliability-before-{key}",
    )
    right.plotly_chart(
        charts.reliability_diagram(after["calibration"], after["ece"], "After, held out"),
        key=f"reliability-after-{key}",
    )
