"""``%load_ext citylib``, then ``%%step`` at the top of a cell: film the cell turn by turn.

The cell's code becomes the body of a coroutine function that
:func:`citylib.stepper.run` films on its own loop, on virtual time; the filmstrip and
the player show below it (``%%step strip`` shows the filmstrip only). Like ``%%lanes``
it is an input transformer: line numbers stay those of the cell as written, so the
film names the learner's own lines. Names the cell assigns stay inside it (they are
the coroutine's locals); define helpers in a cell before.
"""

from __future__ import annotations

from typing import Any

from citylib._views.lanes_magic import indented_body

__all__ = ["MAGIC", "load", "rewrite"]

MAGIC = "%%step"

# The names the rewritten cell uses in the learner's namespace (rarely seen).
_CELL = "_citylib_step_cell"
_FILM = "_citylib_step_film"

_VIEWS = {"": "widget", "player": "widget", "strip": "show"}


def rewrite(lines: list[str]) -> list[str]:
    """A cell's lines with ``%%step`` turned into a filmed coroutine (others unchanged)."""
    if not lines or not lines[0].startswith(MAGIC) or lines[0][len(MAGIC):len(MAGIC) + 1].isalnum():
        return lines
    argument = lines[0][len(MAGIC):].strip()
    if argument not in _VIEWS:
        message = f"%%step takes nothing, 'player' or 'strip', not {argument!r}"
        return [f"raise ValueError({message!r})\n"]
    indented = indented_body(lines[1:])
    view = _VIEWS[argument]
    shown = (
        f"{_FILM}.show()\n" if view == "show"
        else f"__import__('IPython').display.display({_FILM}.widget())\n{_FILM}.show()\n"
    )
    return [
        f"async def {_CELL}():\n",
        *indented,
        f"{_CELL}.__qualname__ = 'this cell'\n",  # its task's name in the film, as in lanes
        f"{_FILM} = __import__('citylib.stepper').stepper.run({_CELL}())\n",
        shown,
    ]


def load(ipython: Any) -> None:
    """Teach ``ipython`` the ``%%step`` cell magic (loading twice is harmless)."""
    cleanup = ipython.input_transformers_cleanup
    if rewrite not in cleanup:
        cleanup.append(rewrite)
