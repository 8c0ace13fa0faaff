"""Streamlit entry point: routing only. Each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="BERTViz Studio", page_icon="🔎", layout="wide")

navigation = st.navigation([st.Page("pages/home.py", title="Home", icon="🏠", default=True)])
navigation.run()
