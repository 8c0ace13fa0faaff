"""Fine-tune a small BERT on labelled text and look inside it. No Streamlit in here."""

__version__ = "0.1.0"
