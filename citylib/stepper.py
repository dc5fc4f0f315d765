"""``citylib.stepper``: step your own asyncio code one turn of the event loop at a time.

``film = stepper.run(main())`` runs ``main()`` to its end on a fresh event loop of
asyncio's own kind, driven one turn at a time on virtual time (sleeps take no real
time), in a script or in a notebook cell, and films every turn: ``film.turns``, each a
:class:`Turn` (``number``, ``clock``, ``ready``, ``ran``, ``waiting``, ``printed``),
``film.result``, ``film.error``, ``film.summary()``, ``film.show()`` (a filmstrip) and
``film.widget()`` (a player). ``%load_ext citylib`` then ``%%step`` films a cell.
Where it is taught: notebook 02 ("Inside the loop"), 06 and 07.
"""

from citylib._views.stepper import (
    MAX_TURNS,
    OUTCOMES,
    Film,
    Step,
    StepLimitError,
    Timer,
    Turn,
    Wait,
    run,
)

__all__ = [
    "MAX_TURNS",
    "OUTCOMES",
    "Film",
    "Step",
    "StepLimitError",
    "Timer",
    "Turn",
    "Wait",
    "run",
]
