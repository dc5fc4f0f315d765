"""``citylib.practice``: checked exercises, and predict-then-run.

The code lives in :mod:`citylib._views.practice_views`: ``import citylib.practice``,
``from citylib.practice import ...`` and ``from citylib import practice`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._views import practice_views as _module

if TYPE_CHECKING:
    from citylib._views.practice_views import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
