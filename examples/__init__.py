"""The course's code snippets as real files, each with its tests (tests/test_examples.py).

Like FastAPI's ``docs_src``: what the notebooks show is what the tests run, so the
examples cannot rot.
"""
