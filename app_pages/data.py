"""Data: choose a sample or upload a table, map its columns, and read the data report."""

import streamlit as st

from app_pages import studio
from bertviz_lib import data
from bertviz_lib.config import (
    LABEL_DELIMITER,
    MAX_DELIMITER_CHARS,
    PROBLEM_TYPE_CHOICES,
    DataConfig,
    TrainConfig,
    bounds,
    help_text,
)
from bertviz_lib.data.samples import SAMPLES
from bertviz_lib.report import charts
from bertviz_lib.report.render import markdown_literal

st.title("Data")
previous = st.session_state.get(studio.DATASET)

source = st.radio("Source", ["A bundled sample", "My own file"], horizontal=True,
                  index=1 if previous and not previous.from_sample else 0)  # fmt: skip
limit = studio.upload_limit_mb()
if source == "A bundled sample":
    names = list(SAMPLES)
    default = previous.file_name.removesuffix(".csv") if previous and previous.from_sample else None
    sample = st.selectbox("Sample", names, index=names.index(default) if default in names else 0)
    file_name, raw = SAMPLES[sample].name, SAMPLES[sample].read_bytes()
else:
    upload = st.file_uploader(
        f"Upload a CSV, TSV or JSON Lines file (at most {limit} MB)",
        type=studio.FILE_TYPES,
        help="One row per example: a text column and a label column. Several labels in one "
        "cell are joined by the label delimiter (';' by default).",
    )
    if upload is not None:
        file_name, raw = upload.name, upload.getvalue()
    elif previous and not previous.from_sample:
        file_name, raw = previous.file_name, previous.raw
        st.caption(f"Using the file uploaded earlier: {markdown_literal(file_name)}")
    else:
        st.info("Upload a file to start, or pick a bundled sample.")
        st.stop()

if len(raw) > limit * 1024 * 1024:
    size = len(raw) / 2**20
    st.error(f"{markdown_literal(file_name)} is {size:.1f} MB; the limit is {limit} MB.")
    st.stop()
try:
    frame, _ = data.read_table(raw, file_name)
except data.DataError as error:
    st.error(markdown_literal(f"{file_name} could not be read: {error}"))
    if previous:
        before = markdown_literal(previous.file_name)
        st.info(f"Training still uses the data chosen before: {before}.")
    st.stop()

st.subheader("Preview")
st.dataframe(frame.head(20), hide_index=True)

st.subheader("Columns and labels")
columns = list(frame.columns)
guessed_text, guessed_label = data.guess_columns(frame)
left, middle, right = st.columns(3)
text_column = left.selectbox(
    "Text column", columns, index=columns.index(guessed_text) if guessed_text in columns else 0
)
label_column = middle.selectbox(
    "Label column", columns,
    index=columns.index(guessed_label) if guessed_label in columns else min(1, len(columns) - 1),
)  # fmt: skip
problem_type = right.selectbox(
    "Problem type", PROBLEM_TYPE_CHOICES, help="auto: multi-label when cells hold several labels, "
    "else single-label (softmax). binary: one sigmoid output for two classes.",
)  # fmt: skip
left, middle, right = st.columns(3)
delimiter = left.text_input(
    "Label delimiter", LABEL_DELIMITER, max_chars=MAX_DELIMITER_CHARS,
    help=help_text(DataConfig, "label_delimiter"),
)  # fmt: skip
max_length = int(middle.number_input("max_length (tokens)", *bounds(TrainConfig, "max_length"), 128,
                                     step=8, help="Texts longer than this are cut."))  # fmt: skip
seed = int(right.number_input("Seed", *bounds(TrainConfig, "seed"), TrainConfig().seed,
                              key="data.seed", help=help_text(TrainConfig, "seed")))  # fmt: skip
validation_mode = st.radio("Validation", ["Split off a share", "A separate file"], horizontal=True)
validation_name = validation_raw = None
fraction = 0.2
if validation_mode == "Split off a share":
    fraction = st.slider("Share held out for validation", 0.05, 0.5, 0.2, 0.05)
else:
    validation_upload = st.file_uploader("Validation file", type=studio.FILE_TYPES)
    if validation_upload is None:
        st.info("Upload the validation file, or split off a share instead.")
        st.stop()
    validation_name, validation_raw = validation_upload.name, validation_upload.getvalue()

config = DataConfig(text_column=text_column, label_column=label_column,
                    label_delimiter=delimiter or LABEL_DELIMITER,
                    validation_fraction=fraction)  # fmt: skip
dataset = studio.prepare(file_name, raw, validation_name, validation_raw, config, problem_type,
                         max_length, seed, source == "A bundled sample")  # fmt: skip
report = dataset.prepared.report

st.subheader("Data report")
show = {"error": st.error, "warning": st.warning, "info": st.info}
for finding in report.findings:
    show[finding.severity](markdown_literal(finding.message))

if not report.ok:
    kept = (f" Training still uses the data chosen before: {markdown_literal(previous.file_name)}."
            if previous else "")  # fmt: skip
    st.error(f"Fix the errors above before training.{kept}")
    st.stop()

st.session_state[studio.DATASET] = dataset
train, validation = dataset.prepared.train, dataset.prepared.validation
counts = {name: 0 for name in train.label_names}
for row in train.labels + validation.labels:
    for name in row:
        counts[name] += 1
colours = charts.class_colours(train.label_names)
left, right = st.columns(2)
left.plotly_chart(charts.label_distribution(counts, colours))
right.plotly_chart(charts.token_lengths(dataset.lengths, max_length))
st.success(
    f"Ready: {len(train)} training and {len(validation)} validation rows, "
    f"{len(train.label_names)} labels, {train.problem_type.replace('_', '-')}."
)
st.page_link("app_pages/train.py", label="Go on to Train", icon=":material/model_training:")
