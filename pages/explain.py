"""Explain: attributions and attention for one prediction (being built; see the README)."""

import streamlit as st

st.title("Explain")
st.info(
    "This page will show, for any text and trained run, which tokens pushed the prediction "
    "(Integrated Gradients and other Captum methods, each with a trust check) and where [CLS] "
    "attends. It is not built yet; the Metrics and Predict pages work today."
)
