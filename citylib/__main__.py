"""``python -m citylib``: the same command line as the ``citylib`` script."""

from citylib._cli import main

raise SystemExit(main())
