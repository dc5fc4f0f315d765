"""``citylib.streaming``: the runnable lessons of notebook 07 (the streaming city).

The code lives in :mod:`citylib._lessons.streaming`: ``import citylib.streaming``,
``from citylib.streaming import ...`` and ``from citylib import streaming`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._lessons import streaming as _module

if TYPE_CHECKING:
    from citylib._lessons.streaming import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
