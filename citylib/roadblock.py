"""``citylib.roadblock``: the one loop watcher: was the event loop held, and by which line.

The code lives in :mod:`citylib._core.watch`: ``import citylib.roadblock``,
``from citylib.roadblock import ...`` and ``from citylib import roadblock`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._core import watch as _module

if TYPE_CHECKING:
    from citylib._core.watch import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
