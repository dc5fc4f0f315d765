"""Async FastAPI in Action ⚡: a route whose keywords glow, and Popy explains on hover.

No JavaScript and no ipywidgets: plain HTML output with a ``<style>`` block. Each
keyword (``.citylib-keyword``) holds a hidden child (``.citylib-tip``) with Popy's
explanation; a ``:hover`` (or keyboard ``:focus``) rule reveals it in the speech
bubble under the code. JupyterLab shows the style for outputs the learner's own
kernel produced. Where a page strips the style (GitHub, nbviewer), the tips stay
hidden by their inline style and a "Popy's notes" list below the code, plus the
``text/plain`` form, tell the same story.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from citylib._core.watch import HELD_CITY_SECONDS, MIN_STALL, STALL_THRESHOLD

__all__ = ["KEYWORDS", "ROUTE", "WORDS", "Glossary", "glossary"]

#: The route on show: the seed's ``/weather`` route, asking the weather service (the
#: same ``ask_weather_service()`` notebook 02 awaits).
ROUTE = """\
@app.get("/weather")
async def get_weather():
    data = await ask_weather_service()
    return data"""

#: Each glowing keyword and what Popy says about it, in the order they appear.
KEYWORDS: dict[str, str] = {
    "@app.get": (
        "🛣️ This opens a road in AI City: every car heading for /weather drives into this route."
    ),
    "async def": (
        "⚡ async def makes the route highway-ready: it can pause politely without "
        "stopping the city."
    ),
    "await": (
        "⏳ await means: “I'll sit politely here while others keep working.” The "
        "event loop serves other cars meanwhile."
    ),
    "ask_weather_service()": (
        "☁️ While ask_weather_service() is fetching weather data, I can handle dozens more "
        "requests on the highway at the exact same time! ☁️⚡"
    ),
    "return": "📦 The moment the cloud answers, the weather drives back to the user.",
}

HINT = "👉 Hover a keyword to hear Popy explain it."

#: The course's words whose meaning is a rule the code applies; each text is built from
#: the numbers the code uses, so the page and the checks cannot drift apart.
WORDS: dict[str, str] = {
    "held (the event loop)": (
        "The event loop was held when it stood still, running nothing else, for at "
        f"least {STALL_THRESHOLD:g} s of real time, or half a city second "
        f"({HELD_CITY_SECONDS:g} s ÷ CITYLIB_SPEED) when the city clock runs so fast that "
        f"this is shorter, but never under {MIN_STALL:g} s (a busy computer's own "
        "hiccups). One rule, one watcher: the practice checks, the Sprint's self-check "
        "and grader, the lanes charts and the roadblock sign all ask it. Real time, "
        "because a blocking call such as time.sleep(0.3) stops the loop for 0.3 real "
        "seconds whatever the city clock's speed; a held stretch is the one thing "
        "a chart measures in real time, and it says so."
    ),
}

# Scoped to .citylib-glossary so it cannot touch the rest of the notebook. The
# bubble area is reserved under the code (min-height) so a tip is never clipped
# by the output area's edge; a tip covers the hint while it shows.
_STYLE = """
.citylib-glossary { position: relative; max-width: 46em; padding-bottom: 6.2em;
  font-size: 14px; }
.citylib-glossary .citylib-code { white-space: pre; font-family: var(--jp-code-font-family,
  monospace); line-height: 1.9; padding: 0.8em 1em; border-radius: 8px;
  background: var(--jp-cell-editor-background, #f5f5f5);
  color: var(--jp-content-font-color1, #111); overflow-x: auto; }
.citylib-glossary .citylib-keyword { cursor: help; border-radius: 4px; padding: 1px 3px;
  background: rgba(86, 180, 233, 0.22); outline: none;
  box-shadow: 0 0 6px 1px rgba(86, 180, 233, 0.75);
  animation: citylib-glow 2.4s ease-in-out infinite; }
.citylib-glossary .citylib-keyword:hover, .citylib-glossary .citylib-keyword:focus {
  background: rgba(230, 159, 0, 0.35); box-shadow: 0 0 10px 2px rgba(230, 159, 0, 0.9); }
.citylib-glossary .citylib-tip { display: none; position: absolute; left: 0; right: 0;
  bottom: 0; min-height: 4.6em; box-sizing: border-box; z-index: 5; padding: 0.7em 1em;
  border-radius: 10px; background: #1f2a44; color: #ffffff; white-space: normal;
  font-family: var(--jp-ui-font-family, sans-serif); line-height: 1.45;
  box-shadow: 0 2px 10px rgba(0, 0, 0, 0.25); }
.citylib-glossary .citylib-keyword:hover .citylib-tip,
.citylib-glossary .citylib-keyword:focus .citylib-tip { display: block !important; }
.citylib-glossary .citylib-hint { position: absolute; left: 0; right: 0; bottom: 0;
  min-height: 4.6em; box-sizing: border-box; padding: 0.7em 1em; border-radius: 10px;
  border: 1px dashed rgba(86, 180, 233, 0.9); color: var(--jp-content-font-color2, #444); }
.citylib-glossary .citylib-notes { display: none; }
@keyframes citylib-glow { 50% { box-shadow: 0 0 12px 3px rgba(86, 180, 233, 0.95); } }
@media (prefers-reduced-motion: reduce) {
  .citylib-glossary .citylib-keyword { animation: none; } }
"""


@dataclass(frozen=True)
class Glossary:
    """A code snippet whose keywords glow; hovering one shows Popy's explanation.

    Displayed in a notebook it renders as HTML (``_repr_html_``); its ``text/plain``
    form lists the code and Popy's notes, for readers without HTML.

    Attributes:
        code: The snippet.
        keywords: Keyword → explanation; each keyword's every occurrence glows.
        hint: The line shown where the explanations appear, before any hover.
    """

    code: str = ROUTE
    keywords: tuple[tuple[str, str], ...] = tuple(KEYWORDS.items())

    hint: str = HINT

    def __post_init__(self) -> None:
        missing = [word for word, _ in self.keywords if not re.search(_whole(word), self.code)]
        if missing:
            raise ValueError(f"keywords not in the code: {', '.join(map(repr, missing))}")

    def _repr_html_(self) -> str:
        notes = "".join(
            f"<li><code>{html.escape(word)}</code>: {html.escape(tip)}</li>"
            for word, tip in self.keywords
        )
        return (
            f'<div class="citylib-glossary"><style>{_STYLE}</style>'
            f'<div class="citylib-code">{self._marked_code()}</div>'
            f'<div class="citylib-hint">{html.escape(self.hint)}</div>'
            # Hidden by the style block: it shows only where a page strips the style.
            f'<ul class="citylib-notes">{notes}</ul>'
            "</div>"
        )

    def _marked_code(self) -> str:
        tips = dict(self.keywords)
        # Longest first, so "async def" wins over any shorter keyword inside it;
        # whole words only, so "await" does not glow inside "awaiting".
        pattern = "|".join(_whole(w) for w in sorted(tips, key=len, reverse=True))
        out, last = [], 0
        for match in re.finditer(pattern, self.code):
            word = match.group(0)
            out.append(html.escape(self.code[last : match.start()]))
            out.append(
                f'<span class="citylib-keyword" tabindex="0">{html.escape(word)}'
                f'<span class="citylib-tip" role="tooltip" style="display:none">'
                f"🧑‍✈️ <b>Popy:</b> {html.escape(tips[word])}</span></span>"
            )
            last = match.end()
        out.append(html.escape(self.code[last:]))
        return "".join(out)

    def __repr__(self) -> str:
        notes = "\n".join(f"  {word} — {tip}" for word, tip in self.keywords)
        return f"{self.code}\n\n{self.hint}\n{notes}"


def _whole(word: str) -> str:
    """A pattern matching ``word`` not glued to a longer name."""
    before = r"(?<![\w.])" if word[0].isalnum() or word[0] == "_" else ""
    after = r"(?!\w)" if word[-1].isalnum() or word[-1] == "_" else ""
    return before + re.escape(word) + after


def glossary(code: str = ROUTE, keywords: dict[str, str] | None = None) -> Glossary:
    """The glowing-keyword route for a notebook cell to display.

    Args:
        code: The snippet (default: the seed's ``/weather`` route with
            ``ask_weather_service()``).
        keywords: Keyword → Popy's explanation (default: :data:`KEYWORDS`).

    Raises:
        ValueError: When a keyword does not occur in the code.
    """
    return Glossary(code, tuple((keywords if keywords is not None else KEYWORDS).items()))
