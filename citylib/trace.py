"""``citylib.trace``: races as a Perfetto trace.

The code lives in :mod:`citylib._core.trace`: ``import citylib.trace``,
``from citylib.trace import ...`` and ``from citylib import trace`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._core import trace as _module

if TYPE_CHECKING:
    from citylib._core.trace import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
