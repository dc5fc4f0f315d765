"""``citylib.services``: AI City's slow services, async and blocking.

The code lives in :mod:`citylib._core.services`: ``import citylib.services``,
``from citylib.services import ...`` and ``from citylib import services`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._core import services as _module

if TYPE_CHECKING:
    from citylib._core.services import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
