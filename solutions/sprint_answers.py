"""The Parallel Fetch Sprint's answers: the teacher's, never shipped with citylib.

``make notebooks`` writes ``solutions/05_parallel_fetch_sprint.ipynb`` from the
learner's ``notebooks/05_parallel_fetch_sprint.ipynb``: in each cell tagged below, the
stub's ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` becomes the answer, between
nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers (so ``citylib student``
turns the teacher's notebook back into the learner's). Each answer is the body of the
function the tagged cell defines, written at the body's indentation.
"""

ANSWERS = {
    "parallel-fetch-sprint": """\
start = clock.now()
names = list(sources)
answers = await asyncio.gather(*(sources[name]() for name in names))
merged = dict(zip(names, answers))
merged["total_latency"] = clock.now() - start
return merged
""",
    "parallel-fetch-stretch": """\
start = clock.now()
merged = {}
for name, source in sources.items():
    merged[name] = await source()
merged["total_latency"] = clock.now() - start
return merged
""",
}
