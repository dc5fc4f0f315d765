"""Root pytest set-up, shared by the unit tests and the notebook runs (nbval).

Tests run on a scaled city clock so the suite stays within minutes; kernels that
nbval and the grader start inherit the variable. Figures are in city seconds, so
what a test reads does not depend on the speed.
"""

import os

os.environ.setdefault("CITYLIB_SPEED", "20")
# Charts render off-screen in tests; notebooks pick their own inline backend.
os.environ.setdefault("MPLBACKEND", "Agg")
