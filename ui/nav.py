"""The dashboard's pages, in one place: app.py builds the navigation from this list and the
browser tests open every entry, so a page added here is served and tested."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    slug: str  # the URL path: http://host:port/<slug>
    file: str  # relative to the project root
    group: str  # who it is for: "director", "supervisor", "reform", "steward"
    title_zh: str
    title_en: str

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en


# The first entry is the default page. Groups appear in the order of their first page.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "pages/overview.py", "director", "总览", "Overview"),
    PageSpec("matters", "pages/matters.py", "director", "事项", "Matters"),
    PageSpec("bottlenecks", "pages/bottlenecks.py", "supervisor", "瓶颈", "Bottlenecks"),
    PageSpec("supervision", "pages/supervision.py", "supervisor", "红黄牌", "Supervision"),
    PageSpec("windows", "pages/windows.py", "supervisor", "窗口与人员", "Windows & staff"),
    PageSpec("application", "pages/application.py", "supervisor", "办件查询", "Application"),
    PageSpec("satisfaction", "pages/satisfaction.py", "director", "好差评", "Satisfaction"),
    PageSpec("reforms", "pages/reforms.py", "reform", "改革成效", "Reform effects"),
    PageSpec("data", "pages/data.py", "steward", "数据状况", "Data health"),
)
