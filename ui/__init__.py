"""Shared Streamlit pieces: cached data access and page scaffolding. Pages hold no SQL."""
