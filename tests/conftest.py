"""Shared test set-up (the clock speed is set in the root conftest.py)."""

# The grader's fixture submissions are notebooks on purpose broken in many ways;
# they are data for tests/test_grading.py, not notebooks for nbval to run.
collect_ignore_glob = ["submissions/*"]
