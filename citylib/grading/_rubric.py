"""The teacher's rubric: points per check, what depends on what, the bonus, what students see.

A rubric is a TOML file (read with :mod:`tomllib`) that ``citylib grade --rubric FILE``
and ``citylib gradescope run/bundle --rubric FILE`` take. :data:`DEFAULT` is today's
weights, and :func:`default_toml` prints it as a file a teacher can edit
(``citylib grade --show-rubric``). A rubric that breaks the teaching rules (the overlap
worth less than half of the points, a check worth negative points) is used all the
same, with :attr:`Rubric.warnings` that say so; one that is not a rubric (bad TOML, an
unknown key, a wrong type) is refused with a :class:`RubricError` naming the line or key.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citylib._lessons.judge import CHECKS
from citylib.grading._messages import DEFAULTS

__all__ = ["DEFAULT", "VISIBILITIES", "Rubric", "RubricError", "default_toml", "load", "parse"]

#: What a student may be shown, as Gradescope words it.
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")

_CHECK_IDS = tuple(c.id for c in CHECKS)
_TOP_KEYS = ("name", "bonus", "cap_without_overlap", "points", "needs", "students")
_STUDENT_KEYS = ("hidden", "hints", "visibility")


class RubricError(ValueError):
    """A rubric that cannot be used, with the line or key at fault in its message."""


@dataclass(frozen=True)
class Rubric:
    """How a submission's checks turn into points, and what its student sees.

    Attributes:
        name: The rubric's name, shown on every page.
        points: Points per check (every check of the deliverable).
        needs: A check's points count only when the check it names passed.
        bonus: Points the stretch goal earns, scored apart from the score.
        cap_without_overlap: The most an answer whose calls never overlapped earns.
        hidden: Checks whose detail and hint students are not shown (nor the check
            itself on Gradescope before the teacher says so).
        hints: Whether students see each failed check's hint.
        visibility: Gradescope's visibility of the whole result.
        source: The TOML text it was read from (``""``: the default).
        warnings: Each teaching rule the rubric breaks, in words.
    """

    name: str = "default"
    points: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULTS.weights))
    needs: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULTS.needs))
    bonus: int = 1
    cap_without_overlap: int = DEFAULTS.max_score // 2
    hidden: tuple[str, ...] = ()
    hints: bool = True
    visibility: str = "visible"
    source: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def max_score(self) -> int:
        """The points there are (the bonus apart)."""
        return sum(max(p, 0) for p in self.points.values())

    @property
    def sha256(self) -> str:
        """A fingerprint of what the rubric says (the default's own TOML for the default)."""
        return hashlib.sha256((self.source or default_toml()).encode("utf-8")).hexdigest()

    def label(self) -> str:
        """The rubric as the pages name it: its name and fingerprint."""
        return f"{self.name} (sha256 {self.sha256[:12]})"

    def record(self) -> dict[str, Any]:
        """What grades.json keeps of it."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "points": dict(self.points),
            "needs": dict(self.needs),
            "bonus": self.bonus,
            "cap_without_overlap": self.cap_without_overlap,
            "hidden": list(self.hidden),
            "hints": self.hints,
            "visibility": self.visibility,
            "warnings": list(self.warnings),
        }


#: Today's weights: the overlap carries the grade.
DEFAULT = Rubric()


def default_toml() -> str:
    """:data:`DEFAULT` as a TOML file a teacher can edit (``--show-rubric``)."""
    titles = {c.id: c.title for c in CHECKS}
    lines = [
        "# The Parallel Fetch Sprint's rubric (citylib grade --rubric FILE).",
        "# Points per check: the calls overlapping is what the Sprint teaches, so it",
        "# carries at least half of the points; an answer without overlap earns at most",
        "# cap_without_overlap.",
        'name = "default"',
        "# Points the stretch goal (sequential_fetch) earns, scored apart from the score.",
        f"bonus = {DEFAULT.bonus}",
        f"cap_without_overlap = {DEFAULT.cap_without_overlap}",
        "",
        "[points]",
        *(f"{c} = {DEFAULT.points[c]}  # {titles[c]}" for c in _CHECK_IDS),
        "",
        "# A check's points count only when the check it names passed (a dict that holds",
        "# no answer fetched nothing, so it earns nothing for being fast).",
        "[needs]",
        *(f'{c} = "{n}"' for c, n in DEFAULT.needs.items()),
        "",
        "[students]",
        "# Checks whose detail and hint students do not see (on Gradescope: hidden tests).",
        "hidden = []",
        "# Whether a failed check shows its hint.",
        "hints = true",
        '# Gradescope: "visible", "after_due_date", "after_published" or "hidden".',
        'visibility = "visible"',
    ]
    return "\n".join(lines) + "\n"


def _unknown(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            raise RubricError(f"{where}{key}: not a rubric key (known here: {', '.join(known)})")


def _integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RubricError(f"{key}: wants a whole number of points, not {value!r}")
    if abs(value) > 10_000:
        raise RubricError(f"{key}: {value} points is beyond any rubric (at most 10000)")
    return value


def _checks(table: Any, key: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise RubricError(f"{key}: wants a table such as [{key}], not {table!r}")
    for check in table:
        if check not in _CHECK_IDS:
            raise RubricError(f"{key}.{check}: no such check (the checks: {', '.join(_CHECK_IDS)})")
    return table


def _warnings(r: Rubric) -> tuple[str, ...]:
    found = [
        f"points.{c} is {p}: a check worth negative points takes points away for "
        "something the student got right; scores stop at 0"
        for c, p in r.points.items()
        if p < 0
    ]
    total = r.max_score
    if total <= 0:
        found.append("the checks are worth no points at all: every score is 0")
    elif 2 * r.points["overlap"] < total:
        found.append(
            f"points.overlap is {r.points['overlap']} of {total}: less than half of the "
            "points, so an answer whose calls never overlap (the misconception the Sprint "
            "is about) can pass"
        )
    if 2 * r.cap_without_overlap > total > 0:
        found.append(
            f"cap_without_overlap is {r.cap_without_overlap} of {total}: more than half, "
            "so one lane can pass"
        )
    if r.bonus < 0:
        found.append(f"bonus is {r.bonus}: the stretch goal takes points away")
    for check, needed in r.needs.items():
        if r.needs.get(needed) == check:
            found.append(f"needs.{check} and needs.{needed} need each other: neither earns")
    return tuple(found)


def parse(text: str, name: str = "") -> Rubric:
    """The rubric ``text`` says (``name``: its default name, such as the file's).

    Raises:
        RubricError: It is no TOML, or not a rubric (the line or key named).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise RubricError(f"not TOML: {exc}") from None
    _unknown(data, _TOP_KEYS, "")
    points = dict(DEFAULT.points)
    for check, value in _checks(data.get("points", {}), "points").items():
        points[check] = _integer(value, f"points.{check}")
    needs = dict(DEFAULT.needs)
    if "needs" in data:  # a [needs] table replaces the default one
        needs = {}
        for check, value in _checks(data["needs"], "needs").items():
            if value not in _CHECK_IDS or value == check:
                raise RubricError(
                    f"needs.{check}: {value!r} is not another check "
                    f"(the checks: {', '.join(_CHECK_IDS)})"
                )
            needs[check] = value
    students = data.get("students", {})
    if not isinstance(students, dict):
        raise RubricError(f"students: wants a table such as [students], not {students!r}")
    _unknown(students, _STUDENT_KEYS, "students.")
    hidden = students.get("hidden", [])
    if not isinstance(hidden, list) or any(h not in _CHECK_IDS for h in hidden):
        raise RubricError(
            f"students.hidden: wants a list of checks (the checks: {', '.join(_CHECK_IDS)}), "
            f"not {hidden!r}"
        )
    hints = students.get("hints", True)
    if not isinstance(hints, bool):
        raise RubricError(f"students.hints: wants true or false, not {hints!r}")
    visibility = students.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise RubricError(
            f"students.visibility: wants one of {', '.join(VISIBILITIES)}, not {visibility!r}"
        )
    rubric_name = data.get("name", name or "rubric")
    if not isinstance(rubric_name, str) or not rubric_name.strip():
        raise RubricError(f"name: wants a non-empty string, not {rubric_name!r}")
    total = sum(max(p, 0) for p in points.values())
    cap = _integer(data.get("cap_without_overlap", total // 2), "cap_without_overlap")
    rubric = Rubric(
        name=rubric_name.strip()[:80],
        points=points,
        needs=needs,
        bonus=_integer(data.get("bonus", DEFAULT.bonus), "bonus"),
        cap_without_overlap=cap,
        hidden=tuple(dict.fromkeys(hidden)),
        hints=hints,
        visibility=visibility,
        source=text,
    )
    return Rubric(**{**vars(rubric), "warnings": _warnings(rubric)})


def load(path: str | Path) -> Rubric:
    """The rubric in the file at ``path``.

    Raises:
        RubricError: It cannot be read, or is not a rubric (the file named).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read the rubric: {exc}") from None
    try:
        return parse(text, Path(path).stem)
    except RubricError as exc:
        raise RubricError(f"{path}: {exc}") from None
