"""Streamlit entry point: routing only. Each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="BERTViz Studio", page_icon="🔎", layout="wide")

navigation = st.navigation(
    {
        "Studio": [
            st.Page("pages/home.py", title="Home", icon="🏠", default=True),
            st.Page("pages/data.py", title="Data", icon="📄"),
            st.Page("pages/train.py", title="Train", icon="🏋️"),
            st.Page("pages/metrics.py", title="Metrics", icon="📊"),
            st.Page("pages/predict.py", title="Predict", icon="🔮"),
        ],
        "Understand": [
            st.Page("pages/explain.py", title="Explain", icon="🔍"),
            st.Page("pages/learn.py", title="Learn & Quiz", icon="🎓"),
        ],
    }
)
navigation.run()
