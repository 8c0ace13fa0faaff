"""Predict: probabilities per class for a typed text or a whole file."""

import pandas as pd
import streamlit as st

from bertviz_lib import data
from bertviz_lib.report import charts, exports
from pages import studio

st.title("Predict")
run, model = studio.chosen_run_and_model(calibration_choice=True)
colours = charts.class_colours(model.label_names)
threshold = model.threshold if model.problem_type == "multi_label" else None

text = st.text_area("Text", placeholder="Type a sentence to classify")
if st.button("Predict", type="primary") and text.strip():
    prediction = model.predict([text])[0]
    st.markdown("**Predicted:** " + (", ".join(f"`{label}`" for label in prediction.labels)
                                     or "no label above the threshold"))  # fmt: skip
    st.plotly_chart(charts.class_probabilities(prediction.probabilities, colours, threshold))

st.subheader("A whole file")
upload = st.file_uploader("CSV, TSV or JSON Lines with a text column", type=studio.FILE_TYPES)
if upload is not None:
    try:
        frame, _ = data.read_table(upload.getvalue(), upload.name)
    except data.DataError as error:
        st.error(f"{upload.name} could not be read: {error}")
        st.stop()
    guessed, _ = data.guess_columns(frame)
    columns = list(frame.columns)
    column = st.selectbox("Text column", columns,
                          index=columns.index(guessed) if guessed in columns else 0)  # fmt: skip
    if st.button("Predict the file"):
        texts = frame[column].fillna("").astype(str).tolist()
        bar = st.progress(0.0, text="Predicting…")
        probabilities = model.predict_proba(
            texts, on_progress=lambda done, total: bar.progress(done / total, f"{done}/{total}")
        )
        result = pd.DataFrame({"text": texts})
        predictions = model.predict_labels(probabilities)
        result["predicted_label"] = [";".join(labels) for labels in predictions]
        for index, name in enumerate(model.label_names):
            result[f"p_{name}"] = probabilities[:, index]
        st.dataframe(result.head(100), hide_index=True)
        st.download_button("Download the predictions (CSV)", exports.safe_csv(result),
                           f"{run.run_id}-predictions.csv", "text/csv")  # fmt: skip
