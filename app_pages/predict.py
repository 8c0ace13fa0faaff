"""Predict: probabilities per class for a typed text or a whole file."""

import pandas as pd
import streamlit as st

from app_pages import studio
from bertviz_lib import data
from bertviz_lib.config import MAX_TYPED_TEXT_CHARS, PREDICT_BATCH_ROWS, PREDICT_MAX_ROWS
from bertviz_lib.report import charts, exports
from bertviz_lib.report.render import markdown_literal
from bertviz_lib.runs import predictions as predictions_csv

STOP = "predict.stop"

st.title("Predict")
run, model = studio.chosen_run_and_model(calibration_choice=True)
colours = charts.class_colours(model.label_names)
threshold = model.threshold if model.problem_type == "multi_label" else None

text = st.text_area(
    "Text", placeholder="Type a sentence to classify", max_chars=MAX_TYPED_TEXT_CHARS
)
if st.button("Predict", type="primary") and text.strip():
    prediction = model.predict([text])[0]
    labels = ", ".join(markdown_literal(label) for label in prediction.labels)
    st.markdown("**Predicted:** " + (labels or "no label above the threshold"))
    st.plotly_chart(charts.class_probabilities(prediction.probabilities, colours, threshold))


def predict_file(texts: list[str]) -> pd.DataFrame:
    """Predicted a slice at a time in the server process, which serves everyone: the bar moves
    between slices, and Stop (any click reruns the page) ends it at the next one."""
    st.button("Stop predicting", icon=":material/stop:", key=STOP)
    bar = st.progress(0.0, text="Predicting…")
    probabilities = []
    for done, chunk in model.predict_in_batches(texts, PREDICT_BATCH_ROWS):
        probabilities.append(chunk)
        bar.progress(done / len(texts), f"{done}/{len(texts)}")
    bar.empty()
    joined = pd.concat([pd.DataFrame(p, columns=model.label_names) for p in probabilities])
    result = pd.DataFrame({"text": texts})
    predictions = model.predict_labels(joined.to_numpy())
    result[predictions_csv.PREDICTED] = [predictions_csv.joined(row) for row in predictions]
    for name in model.label_names:
        result[predictions_csv.probability_column(name)] = joined[name].to_numpy()
    return result


st.subheader("A whole file")
upload = st.file_uploader("CSV, TSV or JSON Lines with a text column", type=studio.FILE_TYPES)
if upload is not None:
    try:
        frame, _ = data.read_table(upload.getvalue(), upload.name)
    except data.DataError as error:
        st.error(markdown_literal(f"{upload.name} could not be read: {error}"))
        st.stop()
    guessed, _ = data.guess_columns(frame)
    columns = list(frame.columns)
    column = st.selectbox("Text column", columns,
                          index=columns.index(guessed) if guessed in columns else 0)  # fmt: skip
    if len(frame) > PREDICT_MAX_ROWS:
        st.warning(f"The file has {len(frame):,} rows; the first {PREDICT_MAX_ROWS:,} are "
                   "predicted. Split it to predict the rest.")  # fmt: skip
    if st.session_state.get(STOP):
        st.info("Stopped: nothing of that file was predicted.")
    if st.button("Predict the file"):
        texts = frame[column].head(PREDICT_MAX_ROWS).fillna("").astype(str).tolist()
        result = predict_file(texts)
        st.dataframe(exports.neutralised(result.head(100)), hide_index=True)
        st.download_button("Download the predictions (CSV)", exports.safe_csv(result),
                           f"{run.run_id}-predictions.csv", "text/csv")  # fmt: skip
