"""``citylib.crashes``: the runnable lessons of notebook 06 (when lanes crash).

The code lives in :mod:`citylib._lessons.crashes`: ``import citylib.crashes``,
``from citylib.crashes import ...`` and ``from citylib import crashes`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._lessons import crashes as _module

if TYPE_CHECKING:
    from citylib._lessons.crashes import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
