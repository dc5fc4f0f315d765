"""``%load_ext citylib``, then ``%%lanes`` at the top of a cell: record the cell's lanes.

The cell runs as it would, inside :func:`citylib.lanes.record`, and then shows the
chart and the one-line summary. ``%%lanes 0.05`` sets the stall threshold (real
seconds). The magic is an input transformer, not a classic cell magic: a cell magic
runs synchronously and could not ``await``, while the rewritten cell is ordinary
async code that IPython runs with top-level ``await``. Line numbers stay those of
the cell as written, so stalls name the learner's own lines.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAGIC", "load", "rewrite"]

MAGIC = "%%lanes"

# The recording's name in the learner's namespace (rarely seen, never clashes).
_RECORDING = "_citylib_lanes_recording"


def rewrite(lines: list[str]) -> list[str]:
    """A cell's lines with ``%%lanes`` turned into a recording block (others unchanged)."""
    if not lines or not lines[0].startswith(MAGIC):
        return lines
    argument = lines[0][len(MAGIC) :].strip()
    threshold = ""
    if argument:
        try:
            threshold = repr(float(argument))
        except ValueError:
            message = f"%%lanes takes one number, the stall threshold in seconds, not {argument!r}"
            return [f"raise ValueError({message!r})\n"]
    return [
        f"with __import__('citylib').lanes.record({threshold}) as {_RECORDING}:\n",
        *indented_body(lines[1:]),
        f"{_RECORDING}.show()\n",
    ]


def indented_body(body: list[str]) -> list[str]:
    """A magic cell's lines under its first, indented one level to sit in a block (an
    empty cell becomes ``pass``); ``%%lanes`` and ``%%step`` both wrap the cell so."""
    body = [line if line.strip() else "\n" for line in body]
    if not any(line.strip() for line in body):
        body = ["pass\n"]
    indented = ["    " + line if line.strip() else line for line in body]
    if not indented[-1].endswith("\n"):
        indented[-1] += "\n"
    return indented


def load(ipython: Any) -> None:
    """Teach ``ipython`` the ``%%lanes`` cell magic (loading twice is harmless)."""
    cleanup = ipython.input_transformers_cleanup
    if rewrite not in cleanup:
        cleanup.append(rewrite)
