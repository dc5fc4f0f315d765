"""The learner's ``citylib.stepper``: film your own asyncio code turn by turn, and watch it.

The filming is :mod:`citylib._core.stepper`; this module adds the views: a static
filmstrip (``film.show()``: a PNG and its text, for readers without a kernel) and a
player (``film.widget()``: back, forward and a slider over the turns; each frame
shows your code with the running lines marked, and the Ready, Running, Waiting and
Timers boxes with the clock and what was printed so far). Where it is taught:
notebook 02 (the couriers, the rude driver), 06 (a TaskGroup's failure, a timeout),
07 (a queue's parked producer).

Example (a notebook cell)::

    from citylib import stepper

    film = stepper.run(main())
    film.widget()
"""

from __future__ import annotations

import html
from collections.abc import Coroutine
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from citylib._core import stepper as _filming
from citylib._core.stepper import (
    MAX_TURNS,
    OUTCOMES,
    Step,
    StepLimitError,
    Timer,
    Turn,
    Wait,
    fmt_seconds,
)
from citylib._core.watch import STALL_THRESHOLD, code_place
from citylib._views.glossary import TERMS
from citylib._views.style import GRID, TEXT, new_figure, to_png, without_emoji

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = [
    "MAX_TURNS",
    "OUTCOMES",
    "Film",
    "Step",
    "StepLimitError",
    "Timer",
    "Turn",
    "Wait",
    "run",
]

T = TypeVar("T")

#: Turns the filmstrip draws (a longer film shows its first ones and says so).
STRIP_TURNS = 14

# Colours of a task's cell in the filmstrip: it ran, it held the loop, it waits.
_RAN, _HELD, _WAITING = "#E69F00", "#D55E00", "#56B4E9"


class Film(_filming.Film[T]):
    """A film that can show itself (see :class:`citylib._core.stepper.Film`)."""

    def text(self, limit: int | None = None) -> str:
        """The film as text, a block per turn (the first ``limit`` turns when given)."""
        turns = self.turns if limit is None else self.turns[:limit]
        blocks = [frame_text(self, turn.number - 1, so_far=False) for turn in turns]
        if limit is not None and len(self.turns) > limit:
            blocks.append(f"… {len(self.turns) - limit} more turns")
        return "\n\n".join(blocks)

    def chart(self) -> Figure:
        """The filmstrip: one column per turn, one row per task."""
        return filmstrip(self)

    def show(self) -> None:
        """Display the filmstrip, its text, and the one-line summary."""
        from IPython.display import Image, display

        display(Image(to_png(self.chart())))
        print(self.text(limit=STRIP_TURNS))
        print()
        print(self.summary())

    def widget(self) -> ipywidgets.VBox:
        """The player: back, forward and a slider over the turns."""
        return player(self)

    def _repr_png_(self) -> bytes:
        return to_png(self.chart())


def run(
    main: Coroutine[Any, Any, T],
    *,
    threshold: float = STALL_THRESHOLD,
    max_turns: int = MAX_TURNS,
) -> Film[T]:
    """Run ``main()`` to its end one turn of the event loop at a time, and film it.

    ``film.result`` is what ``main()`` returned, ``film.error`` what it raised, and
    ``film.turns`` the turns (see :mod:`citylib._core.stepper`). Works in a script and
    in a notebook cell; sleeps take no real time.

    Args:
        main: The coroutine, such as ``main()``.
        threshold: Real seconds a step must hold the loop to count as a stall.
        max_turns: Turns the program may take before it counts as a runaway.
    """
    film: Film[T] = Film()
    _filming.run(main, threshold=threshold, max_turns=max_turns, film=film)
    return film


# -- one frame ---------------------------------------------------------------------


def _step_words(step: Step, threshold: float) -> str:
    if step.outcome == "awaiting":
        words = f"{step.task} → awaits at {step.line}"
    else:
        words = f"{step.task} → {step.outcome}" + (f" at {step.line}" if step.line else "")
    if step.held >= threshold:
        where = f" at {step.held_at}" if step.held_at else ""
        words += f" (held the loop {step.held:.2f} s{where} 🚧)"
    return words


def frame_text(film: _filming.Film[Any], index: int, *, so_far: bool = True) -> str:
    """Turn ``index`` (from 0) in words: the boxes of the player's frame."""
    turn = film.turns[index]
    lines = [f"Turn {turn.number} of {len(film.turns)} · clock {fmt_seconds(turn.clock)} s"]
    lines.append("  ready:   " + (", ".join(turn.ready) or "—"))
    ran = [_step_words(step, film.threshold) for step in turn.ran]
    lines.append("  ran:     " + ("; ".join(ran) or "— (no task: the loop's own callbacks)"))
    waits = [f"{w.task} at {w.line} on {w.on}" for w in turn.waiting]
    lines.append("  waiting: " + ("; ".join(waits) or "—"))
    timers = [f"{fmt_seconds(t.when)} s {t.what}" for t in turn.timers]
    lines.append("  timers:  " + ("; ".join(timers) or "—"))
    printed = _printed(film, index) if so_far else turn.printed
    if printed.strip():
        shown = " | ".join(printed.strip("\n").splitlines())
        lines.append(("  printed so far: " if so_far else "  printed: ") + shown)
    return "\n".join(lines)


def _printed(film: _filming.Film[Any], index: int) -> str:
    return "".join(turn.printed for turn in film.turns[: index + 1])


_FRAME_STYLE = """
.citylib-step { display: flex; gap: 12px; font-size: 13px; align-items: flex-start; }
.citylib-step pre { margin: 0; }
.citylib-step .code { flex: 1 1 55%; background: var(--jp-cell-editor-background, #f5f5f5);
  color: var(--jp-content-font-color1, #111); border-radius: 8px; padding: 8px;
  overflow-x: auto; font-family: var(--jp-code-font-family, monospace); line-height: 1.5; }
.citylib-step .code .now { background: rgba(230, 159, 0, 0.35); font-weight: bold; }
.citylib-step .code .held { background: rgba(213, 94, 0, 0.45); font-weight: bold; }
.citylib-step .code .wait { background: rgba(86, 180, 233, 0.22); }
.citylib-step .code .tag { color: #555; font-style: italic; }
.citylib-step .boxes { flex: 1 1 45%; display: grid; grid-template-columns: 1fr 1fr;
  gap: 6px; }
.citylib-step .box { border: 2px solid #ccc; border-radius: 8px; padding: 4px 8px;
  min-height: 3em; }
.citylib-step .box h4 { margin: 0 0 4px 0; font-size: 13px; }
.citylib-step .box ul { margin: 0; padding-left: 1.1em; }
.citylib-step .ready { border-color: #009E73; }
.citylib-step .running { border-color: #E69F00; }
.citylib-step .waiting { border-color: #56B4E9; }
.citylib-step .timers { border-color: #CC79A7; }
.citylib-step .printed { grid-column: 1 / 3; border-color: #999; }
.citylib-step .clock { grid-column: 1 / 3; font-size: 15px; font-weight: bold; }
"""


def _box(kind: str, title: str, items: list[str], tip: str = "") -> str:
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items) or "<li>—</li>"
    hover = f' title="{html.escape(tip)}"' if tip else ""
    return (
        f'<div class="box {kind}"{hover}><h4>{html.escape(title)}</h4>'
        f"<ul>{listed}</ul></div>"
    )


def _code_html(film: _filming.Film[Any], turn: Turn) -> str:
    """The learner's code, the lines this turn's steps stopped at marked with the task."""
    marks: dict[tuple[str, int], tuple[str, list[str]]] = {}
    stepped = {step.number for step in turn.ran}
    for wait in turn.waiting:
        if wait.number not in stepped:  # a task that ran this turn is tagged by its step
            marks.setdefault(wait.spot, ("wait", []))[1].append(f"⏸ {wait.task}")
    for step in turn.ran:
        kind = "now"
        entry = marks.get(step.spot)
        tags = entry[1] if entry is not None else []
        marks[step.spot] = (kind, [*tags, f"▶ {step.task} ({step.outcome})"])
        if step.held >= film.threshold and step.held_spot[0]:
            held = marks.get(step.held_spot, ("held", []))[1]
            marks[step.held_spot] = ("held", [*held, f"🚧 {step.task} held the loop"])
    out = []
    for filename, first, lines in film.code:
        out.append(f'<span class="tag"># {html.escape(code_place(filename, first))}</span>')
        for offset, text in enumerate(lines):
            number = first + offset
            kind, tags = marks.get((filename, number), ("", []))
            shown = f"{number:>4}  {html.escape(text)}"
            if tags:
                shown += f'  <span class="tag">← {html.escape(", ".join(tags))}</span>'
            out.append(f'<span class="{kind}">{shown}</span>' if kind else shown)
        out.append("")
    return "<pre>" + "\n".join(out) + "</pre>"


def frame_html(film: _filming.Film[Any], index: int) -> str:
    """Turn ``index`` (from 0) as the player shows it: the code and the four boxes."""
    turn = film.turns[index]
    printed = _printed(film, index).strip("\n").splitlines()
    boxes = "".join([
        f'<div class="clock">Turn {turn.number} of {len(film.turns)} · ⏱️ clock '
        f"{html.escape(fmt_seconds(turn.clock))} s</div>",
        _box("ready", "🟢 Ready (at the turn's start)", turn.ready, TERMS["ready queue"]),
        _box("running", "🟠 Running (this turn)",
             [_step_words(s, film.threshold) for s in turn.ran], TERMS["turn"]),
        _box("waiting", "🔵 Waiting", [f"{w.task} on {w.on}" for w in turn.waiting]),
        _box("timers", "⏰ Timers",
             [f"{fmt_seconds(t.when)} s: {t.what}" for t in turn.timers], TERMS["timer"]),
        _box("printed", "🖨️ Printed so far", printed[-8:]),
    ])
    return (
        f'<div class="citylib-step"><style>{_FRAME_STYLE}</style>'
        f'<div class="code">{_code_html(film, turn)}</div>'
        f'<div class="boxes">{boxes}</div></div>'
    )


# -- the player ----------------------------------------------------------------------


#: Films up to this many turns send every frame to the browser at once, and the slider
#: switches frames there (no round trip to the kernel); longer films render each
#: frame in the kernel when it is asked for.
BROWSER_FRAMES = 300


def player(film: _filming.Film[Any]) -> ipywidgets.VBox:
    """Back, forward and a slider over the film's turns, over one frame."""
    import ipywidgets as widgets

    box = _player_class()
    if not film.turns:
        return box([widgets.HTML("The film has no turns: nothing ran.")], plain="an empty film")
    count = len(film.turns)
    slider = widgets.IntSlider(value=1, min=1, max=count, description="turn",
                               continuous_update=True,
                               layout=widgets.Layout(width="60%"))
    back = widgets.Button(description="◀ back", layout=widgets.Layout(width="90px"))
    forward = widgets.Button(description="forward ▶", layout=widgets.Layout(width="90px"))
    text = widgets.Label(film.summary())
    frame: Any
    if count <= BROWSER_FRAMES:
        # Stack's index 0 is a blank, so that turn N is index N: the slider's value.
        frame = widgets.Stack(
            [widgets.HTML(""), *(widgets.HTML(frame_html(film, i)) for i in range(count))],
            selected_index=1,
        )
        widgets.jslink((slider, "value"), (frame, "selected_index"))
    else:
        frame = widgets.HTML(frame_html(film, 0))

    def show(change: dict[str, Any]) -> None:
        if isinstance(frame, widgets.HTML):
            frame.value = frame_html(film, int(change["new"]) - 1)
        back.disabled = change["new"] <= 1
        forward.disabled = change["new"] >= count

    def step_by(delta: int) -> None:
        slider.value = max(1, min(count, slider.value + delta))

    slider.observe(show, names="value")
    back.on_click(lambda _: step_by(-1))
    forward.on_click(lambda _: step_by(1))
    back.disabled = True
    forward.disabled = count <= 1
    plain = (
        f"{count} {'turn' if count == 1 else 'turns'} of the event loop: "
        "◀ back, forward ▶ or the slider (live)"
    )
    return box([widgets.HBox([back, slider, forward]), frame, text], plain=plain)


@cache
def _player_class() -> type[ipywidgets.VBox]:
    """The player's box, made on first use (ipywidgets is not imported before)."""
    import ipywidgets as widgets

    class Player(widgets.VBox):  # type: ignore[misc]
        """The stepper's player; its text (what nbval compares) is one stable line."""

        def __init__(self, children: list[Any], *, plain: str) -> None:
            super().__init__(children)
            self.add_class("citylib-stepper")  # a hook for the browser tests
            self.plain = plain

        def __repr__(self) -> str:
            return f"Player: {self.plain}"

    return Player


# -- the filmstrip -------------------------------------------------------------------


def filmstrip(film: _filming.Film[Any]) -> Figure:
    """One column per turn (the first :data:`STRIP_TURNS`), one row per task: orange
    where it ran (red where it held the loop), blue where it waits."""
    turns = film.turns[:STRIP_TURNS]
    rows: dict[int, str] = {}  # task number -> its name, in the order tasks first ran
    for turn in film.turns:
        for step in turn.ran:
            rows.setdefault(step.number, step.task)
    tasks = list(rows.values())
    row_of = {number: row for row, number in enumerate(rows)}
    width = 1.6 + 1.05 * max(len(turns), 3)
    fig = new_figure(width, 1.4 + 0.55 * max(len(tasks), 1))
    ax = fig.add_subplot()
    for col, turn in enumerate(turns):
        waits = {w.number: w for w in turn.waiting}
        for number, row in row_of.items():
            steps = [s for s in turn.ran if s.number == number]
            if steps:
                held = any(s.held >= film.threshold for s in steps)
                colour, label = (_HELD if held else _RAN), _short(steps[-1])
            elif number in waits:
                colour, label = _WAITING, _short_wait(waits[number])
            else:
                continue  # not started yet, back in the ready queue, or ended
            ax.add_patch(_cell(col, row, colour))
            ax.text(col + 0.5, row + 0.5, without_emoji(label), ha="center", va="center",
                    fontsize=7, color=TEXT)
    ax.set_xlim(0, max(len(turns), 1))
    ax.set_ylim(max(len(tasks), 1), 0)
    ax.set_xticks([c + 0.5 for c in range(len(turns))])
    ax.set_xticklabels([f"turn {t.number}\n{fmt_seconds(t.clock)} s" for t in turns], fontsize=8)
    ax.set_yticks([r + 0.5 for r in range(len(tasks))])
    ax.set_yticklabels(_row_labels(tasks), fontsize=9)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    shown = len(film.turns) > STRIP_TURNS
    more = f" (first {STRIP_TURNS} of {len(film.turns)} turns)" if shown else ""
    ax.set_title(
        f"Inside the loop{more}: orange ran (a step), red held the loop, blue waits",
        fontsize=9, color=TEXT, loc="left",
    )
    return fig


def _row_labels(names: list[str]) -> list[str]:
    """Task names as the chart's font draws them (no emoji); a repeated name numbered."""
    plain = [without_emoji(name).strip() or name for name in names]
    repeated = {label for label in plain if plain.count(label) > 1}
    seen: dict[str, int] = {}
    labels = []
    for label in plain:
        if label in repeated:
            seen[label] = seen.get(label, 0) + 1
            label = f"{label} #{seen[label]}"
        labels.append(label)
    return labels


def _cell(col: int, row: int, colour: str) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((col + 0.06, row + 0.1), 0.88, 0.8,
                          boxstyle="round,pad=0.0,rounding_size=0.08",
                          facecolor=colour, edgecolor="white", alpha=0.85)


def _line_number(place: str) -> str:
    tail = place.rsplit("line ", 1)[-1] if "line " in place else place.rsplit(":", 1)[-1]
    return f"l.{tail}" if tail.isdigit() else place


def _short(step: Step) -> str:
    word = {"awaiting": "await", "done": "done", "error": "error", "cancelled": "cancelled"}
    return f"{word[step.outcome]}\n{_line_number(step.line)}" if step.line else word[step.outcome]


def _short_wait(wait: Wait) -> str:
    if wait.on.endswith(_filming._WOKEN):
        return "woken"
    if wait.on.endswith(_filming._CALLED_OFF):
        return "cancelled"
    on = wait.on.replace("sleep until ", "⏰ ")
    return on if len(on) <= 14 else on[:13] + "…"
