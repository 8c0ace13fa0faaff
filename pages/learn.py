"""Learn & Quiz: how BERT fine-tuning works, taught on the live model (being built)."""

import streamlit as st

st.title("Learn & Quiz")
st.info(
    "This page will teach how BERT is fine-tuned for classification, with live examples on the "
    "bundled model, flashcards, a test and practice questions. It is not built yet."
)
