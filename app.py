"""Streamlit entry point: routing only. Each page lives in pages/."""

import streamlit as st

st.set_page_config(
    page_title="BERTViz Studio", page_icon=":material/search_insights:", layout="wide"
)

navigation = st.navigation(
    {
        "Studio": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/data.py", title="Data", icon=":material/table:"),
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("pages/metrics.py", title="Metrics", icon=":material/monitoring:"),
            st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
        ],
        "Understand": [
            st.Page("pages/explain.py", title="Explain", icon=":material/search_insights:"),
        ],
        "Learn & Quiz": [
            st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
            st.Page("pages/quiz.py", title="Quiz", icon=":material/quiz:"),
        ],
    }
)
navigation.run()
