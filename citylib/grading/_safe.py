"""Text from a submission made safe to write: names, CSV cells, strict JSON.

Everything a report shows may come from a hostile notebook: its file name, the
text of an error it raised, what it printed. Each writer passes it through here:

* :func:`printable`: a lone surrogate (a file name's undecodable byte, an
  exception's text) or a control or bidi character becomes a visible escape, so
  it can be encoded, printed and read the way it really is (``caf\\xe9.ipynb``).
* :func:`csv_cell`: one line, capped, and never a formula (OWASP's rule for CSV
  injection: a cell starting with ``= + - @``, a tab or a carriage return gets a
  leading ``'``).
* :func:`strict_json`: JSON without ``NaN`` or ``Infinity`` (they become ``null``,
  and the reason is returned).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "CSV_CELL_CHARS", "FORMULA_STARTS", "csv_cell", "json_ready", "printable", "strict_json",
]  # fmt: skip

#: A cell starting with one of these is read as a formula by spreadsheets (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Characters a CSV cell keeps; the rest is said to be cut.
CSV_CELL_CHARS = 1000

# Lone surrogates; C0 and C1 controls but tab and newline; bidi embeddings,
# overrides and isolates (they reorder what follows: "alice\u202egnp.ipynb").
_UNSAFE = re.compile(
    "[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with lone surrogates, controls and bidi overrides as visible escapes.

    The result always encodes as UTF-8. Tabs and newlines stay unless
    ``keep_newlines`` is false (a name: then they are escaped too).
    """
    out = _UNSAFE.sub(_escape, text)
    if not keep_newlines:
        out = out.replace("\t", "\\t").replace("\n", "\\n")
    return out


def csv_cell(value: Any) -> Any:
    """A value safe in a CSV cell: numbers as they are; text on one line, at most
    :data:`CSV_CELL_CHARS` characters, and never starting like a formula."""
    if not isinstance(value, str):
        return value
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = printable(" ⏎ ".join(lines))  # one row, one physical line
    if len(text) > CSV_CELL_CHARS:
        text = f"{text[:CSV_CELL_CHARS]}… ({len(text) - CSV_CELL_CHARS:,} more characters)"
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text


def json_ready(value: Any, where: str = "", *, nulls: bool = True) -> tuple[Any, list[str]]:
    """``value`` (dicts, lists, scalars) with every string :func:`printable`, and
    (``nulls``) every NaN or infinity as ``None``; returns it and the reasons, one
    per value replaced, naming where it was."""
    reasons: list[str] = []
    return _ready(value, where, reasons, nulls), reasons


def _ready(value: Any, where: str, reasons: list[str], nulls: bool) -> Any:
    if nulls and isinstance(value, float) and not math.isfinite(value):
        reasons.append(f"{where} was {value!r}, not a number JSON can hold: written as null")
        return None
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {
            printable(str(k)): _ready(v, f"{where}.{k}" if where else str(k), reasons, nulls)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_ready(v, f"{where}[{i}]", reasons, nulls) for i, v in enumerate(value)]
    return value


def strict_json(value: Any) -> str:
    """``value`` as strict JSON text: no NaN, no Infinity, no lone surrogate
    (``allow_nan=False`` proves it; see :func:`json_ready` for the reasons)."""
    ready, _ = json_ready(value)
    return json.dumps(ready, ensure_ascii=False, allow_nan=False)
