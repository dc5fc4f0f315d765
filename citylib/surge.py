"""``citylib.surge``: a thousand users connect to AI City at once.

The code lives in :mod:`citylib._lessons.surge`: ``import citylib.surge``,
``from citylib.surge import ...`` and ``from citylib import surge`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._lessons import surge as _module

if TYPE_CHECKING:
    from citylib._lessons.surge import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
