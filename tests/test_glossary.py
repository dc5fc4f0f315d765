"""The glowing-keyword route: HTML with a style block and hover tips, no JavaScript."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from citylib._views.glossary import HINT, KEYWORDS, ROUTE, glossary


class Keywords(HTMLParser):
    """Collects each keyword's own text and its tip's text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        self._stack.append(cls)
        if cls == "citylib-keyword":
            self.found.append(("", ""))

    def handle_endtag(self, tag: str) -> None:
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        if "citylib-tip" in self._stack:
            word, tip = self.found[-1]
            self.found[-1] = (word, tip + data)
        elif self._stack and self._stack[-1] == "citylib-keyword":
            word, tip = self.found[-1]
            self.found[-1] = (word + data, tip)


def test_every_keyword_glows_with_popys_tip_inside() -> None:
    parser = Keywords()
    parser.feed(glossary()._repr_html_())
    assert [word for word, _ in parser.found] == list(KEYWORDS)
    for (word, tip), expected in zip(parser.found, KEYWORDS.values(), strict=True):
        assert tip == f"🧑‍✈️ Popy: {expected}", word


def test_the_seed_lines_are_there() -> None:
    page = glossary()._repr_html_()
    assert HINT == "👉 Hover a keyword to hear Popy explain it."
    assert HINT in page
    assert (
        "While ask_weather_service() is fetching weather data, I can handle dozens more "
        "requests on the highway at the exact same time! ☁️⚡"
    ) in KEYWORDS["ask_weather_service()"]


def test_tips_are_hidden_until_hover_by_css_alone() -> None:
    page = glossary()._repr_html_()
    assert "<script" not in page.lower()
    assert page.count('class="citylib-tip" role="tooltip" style="display:none"') == len(KEYWORDS)
    style = re.search(r"<style>(.*)</style>", page, re.DOTALL)
    assert style is not None
    assert ".citylib-keyword:hover .citylib-tip" in style.group(1)
    assert ".citylib-keyword:focus .citylib-tip" in style.group(1)  # keyboard users too
    assert 'tabindex="0"' in page


def test_the_code_reads_the_same_with_the_markup_stripped() -> None:
    page = glossary()._repr_html_()
    code = re.search(r'<div class="citylib-code">(.*?)</div>', page, re.DOTALL)
    assert code is not None
    without_tips = re.sub(r'<span class="citylib-tip".*?</span></span>', "", code.group(1))
    text = re.sub(r"<[^>]+>", "", without_tips).replace("&quot;", '"')
    assert text == ROUTE


def test_plain_text_for_readers_without_html() -> None:
    text = repr(glossary())
    assert text.startswith(ROUTE)
    assert "  await — ⏳ await means" in text


def test_whole_words_only() -> None:
    g = glossary("awaiting = await x", {"await": "pause"})
    assert g._repr_html_().count('class="citylib-keyword"') == 1


def test_a_keyword_missing_from_the_code_is_refused() -> None:
    with pytest.raises(ValueError, match="keywords not in the code: 'yield'"):
        glossary(keywords={"yield": "no"})
