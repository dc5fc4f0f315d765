"""Step 2 of "Build your own Async Highway": write your first async function.

The ``async`` keyword turns a normal function into a highway-ready one that can
pause politely. Run it from a terminal: ``python examples/step2_first_async_function.py``.
"""

import asyncio


async def fetch_weather():
    await asyncio.sleep(1)  # pretend it's slow
    return {"city": "Citypopy", "temp": "22°C"}


if __name__ == "__main__":
    # asyncio.run() starts an event loop: right in a script, but inside Jupyter
    # (whose loop is already running) use `await fetch_weather()` instead.
    print(asyncio.run(fetch_weather()))
