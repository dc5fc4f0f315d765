"""``citylib.sprint``: the Parallel Fetch Sprint, the course's graded exercise.

The code lives in :mod:`citylib._views.sprint`: ``import citylib.sprint``,
``from citylib.sprint import ...`` and ``from citylib import sprint`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._views import sprint as _module

if TYPE_CHECKING:
    from citylib._views.sprint import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
