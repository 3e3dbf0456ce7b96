"""Metrics: warehouse tables into Polars frames. Knows nothing of Streamlit."""
