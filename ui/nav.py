"""The dashboard's pages, in one place: app.py builds the navigation from this list and the
browser tests open every entry, so a page added here is served and tested."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    slug: str  # the URL path: http://host:port/<slug>
    # Relative to the project root. Page files live in views/, not pages/: Streamlit treats a
    # pages/ folder beside app.py as an old-style multipage app and, when the server's first
    # visitor opens a page by its URL, runs that file alone with a file-named sidebar for good.
    file: str
    group: str  # who it is for: "director", "supervisor", "reform", "steward"
    title_zh: str
    title_en: str

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en


PAGES: tuple[PageSpec, ...] = (
    PageSpec("data", "views/data.py", "steward", "数据状况", "Data health"),
)
