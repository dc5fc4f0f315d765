"""``citylib.stepper``: step your own asyncio code one turn of the event loop at a time.

``film = stepper.run(main())`` films ``main()`` turn by turn on virtual time, in a
script or a notebook cell: ``film.turns`` (each a ``Turn``: ``number``, ``clock``,
``ready``, ``ran``, ``waiting``, ``printed``), ``film.result``, ``film.error``,
``film.summary()``, ``film.show()`` and ``film.widget()``; ``%%step`` films a cell
after ``%load_ext citylib``. The code lives in :mod:`citylib._views.stepper`:
``import citylib.stepper``, ``from citylib.stepper import ...`` and ``from citylib
import stepper`` give that one module object (see "Public modules" in :mod:`citylib`).
"""

import sys
from typing import TYPE_CHECKING

from citylib._views import stepper as _module

if TYPE_CHECKING:
    from citylib._views.stepper import *  # noqa: F403  (what type checkers and editors see)

sys.modules[__name__] = _module
