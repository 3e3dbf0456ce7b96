"""Data shown as plain text. Names, reasons and descriptions come from exports and forms; most
Streamlit texts (st.markdown, st.caption, st.subheader, st.info, st.success, st.error, metric
and widget labels, tab names) read Markdown, so a matter named `![x](http://host/p.png)` would
make every visitor's browser fetch that address and `:red[x]` would be styled. Every data value
that reaches such a text passes through md(), which makes Markdown show it literally; whole
data texts go to st.text (never parsed). Tables (st.dataframe) and charts draw text as text."""

from __future__ import annotations

import re
import string

# Every ASCII punctuation character may be backslash-escaped in CommonMark: escaped, none of
# them starts emphasis, a link, an image, a heading, a list, a quote, code, HTML, maths ($),
# a directive (:red[…]) or an autolink (http://…, www.…).
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# remark-emoji turns :name: into an emoji, and GFM turns http://…, www.… and a@b.c into links,
# on the text after escapes are undone: a word joiner (U+2060, invisible) after the colon, in
# "http:", "www." and after "@" keeps them from matching.
_COLON = re.compile(r"\\:(?=[\w+-])")
_AUTOLINK = re.compile(r"(?i)(https?|ftp|www)(?=[:.])|(@)")
WORD_JOINER = "\u2060"


def md(value: object) -> str:
    """`value` as Markdown that shows exactly its text, on one line (line breaks and runs of
    spaces become one space: a leading space would start a code block)."""
    text = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, " ".join(str(value).split()))
    return _COLON.sub(lambda _: "\\:" + WORD_JOINER, _PUNCTUATION.sub(r"\\\1", text))
