"""``citylib.lanes``: record your own asyncio code, one lane per task.

The code lives in :mod:`citylib._views.lanes`: ``import citylib.lanes``,
``from citylib.lanes import ...`` and ``from citylib import lanes`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._views import lanes as _module

if TYPE_CHECKING:
    from citylib._views.lanes import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
