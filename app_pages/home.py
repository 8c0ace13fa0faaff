"""Home: what the studio does, the device it found, and the latest runs."""

import streamlit as st

from bertviz_lib import runs
from bertviz_lib.devices import describe, resolve_device

st.title("BERTViz Studio")
st.markdown(
    "Fine-tune a small BERT on your own labelled text, then look at what it learned.  \n"
    "**Data → Train → Metrics → Predict → Explain → Learn → Quiz**"
)

st.markdown(
    f"**Device:** {describe(resolve_device('auto'))}  \n"
    "**Bundled model:** all-MiniLM-L6-v2, a 6-layer uncased BERT with 22.7M parameters "
    "(works offline)."
)
st.caption(
    "Every visitor of this studio shares its runs: each can see, use and delete any of them."
)

st.subheader("Latest runs")
latest = runs.list_runs()[:10]
if not latest:
    st.info("No runs yet: choose your data (or keep the bundled sample), then train.")
    st.page_link("app_pages/data.py", label="Start with Data", icon=":material/table:")
else:
    st.dataframe(
        [
            {
                "run": r.run_id,
                "state": r.state,
                "accuracy": r.metrics.get("accuracy"),
                "macro F1": r.metrics.get("macro_f1"),
            }
            for r in latest
        ],
        hide_index=True,
    )
