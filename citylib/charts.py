"""``citylib.charts``: every picture in the course, and ``show``.

The code lives in :mod:`citylib._views.charts`: ``import citylib.charts``,
``from citylib.charts import ...`` and ``from citylib import charts`` give that one
module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._views import charts as _module

if TYPE_CHECKING:
    from citylib._views.charts import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
