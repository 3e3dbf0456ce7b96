"""Starts Streamlit for the dashboard: `onewindow serve` runs
`python -m onewindow.streamlit_main run app.py …` instead of `python -m streamlit run …`.

app.py navigates with `st.navigation` over the page files in pages/. Streamlit 1.67 still takes
a pages/ folder beside the main script for an old-style multipage app until the first
`st.navigation` call, and in that mode a first visitor who opens /data runs pages/data.py
alone — no page config, no language, a file-named sidebar — and the mode sticks for every later
visitor. `st.navigation` itself clears the flag on its first call; clearing it before the server
starts closes that window (tests/test_browser.py opens a page link first to check it).
"""

from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web.cli import main

if __name__ == "__main__":
    PagesManager.uses_pages_directory = False
    main(prog_name="streamlit")
