"""``citylib.clock``: city time, the one seam between city and real seconds.

The code lives in :mod:`citylib._core.clock`: ``import citylib.clock``,
``from citylib.clock import ...`` and ``from citylib import clock`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._core import clock as _module

if TYPE_CHECKING:
    from citylib._core.clock import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
