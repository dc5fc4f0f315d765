"""Your own token stream (notebook 07, "Testing async code").

An async generator: ``async def`` with ``yield`` inside. Each word waits politely
(``await asyncio.sleep``), so while one reader waits for the next word, the event loop
serves every other reader. ``test_stream_words.py``, beside it, tests it with pytest
and anyio's plugin. Notebook 07 shows both files as cells that write them to a folder
of their own, and runs the tests there.
"""

import asyncio


async def stream_words(text, delay=0.05):
    for word in text.split():
        await asyncio.sleep(delay)  # never time.sleep(): it would freeze the highway
        yield word


async def main():
    async for word in stream_words("Many lanes, zero waiting."):
        print(word, end=" ", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main())
