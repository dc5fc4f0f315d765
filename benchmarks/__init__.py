"""Performance figures of the Async Highways course, each beside its baseline.

``make bench`` (``python -m benchmarks``) measures every goal of DESIGN.md's
"Performance goals" table and writes ``benchmarks/results.json``. One module per
figure; each exposes ``run(quick=False) -> list[Figure]``.
"""
