"""``citylib.timeline``: trip recording: who drove where, when, and how it ended.

The code lives in :mod:`citylib._core.timeline`: ``import citylib.timeline``,
``from citylib.timeline import ...`` and ``from citylib import timeline`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._core import timeline as _module

if TYPE_CHECKING:
    from citylib._core.timeline import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
