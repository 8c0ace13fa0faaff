"""Streamlit entry point: routing only. Each page lives in app_pages/."""

import streamlit as st

st.set_page_config(
    page_title="BERTViz Studio", page_icon=":material/search_insights:", layout="wide"
)

navigation = st.navigation(
    {
        "Studio": [
            st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("app_pages/data.py", title="Data", icon=":material/table:"),
            st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("app_pages/metrics.py", title="Metrics", icon=":material/monitoring:"),
            st.Page("app_pages/predict.py", title="Predict", icon=":material/online_prediction:"),
        ],
        "Understand": [
            st.Page("app_pages/explain.py", title="Explain", icon=":material/search_insights:"),
        ],
        "Learn & Quiz": [
            st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
            st.Page("app_pages/quiz.py", title="Quiz", icon=":material/quiz:"),
        ],
    }
)
navigation.run()
