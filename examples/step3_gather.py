"""Step 3 of "Build your own Async Highway": run many tasks in parallel.

``asyncio.gather()`` is the foreman: it sends all tasks to their own lane at the
same time. AI City's services stand in for the slow ones (weather 1 s, image 8 s,
chat 3 s, on the city clock), so all three together take 8 s, not 12. They are
called through their module, ``services.fetch_weather()``: notebook 04 shows this file
as a cell, right after a ``fetch_weather`` of the learner's own (step 2), which a bare
``from citylib.services import fetch_weather`` would silently replace.
"""

import asyncio

from citylib import services


async def main():
    # All three run simultaneously!
    weather, image, chat = await asyncio.gather(
        services.fetch_weather(),
        services.generate_image(),
        services.get_ai_reply(),
    )
    return weather, image, chat


if __name__ == "__main__":
    print(asyncio.run(main()))
