"""Tests of ``stream_words``, run by pytest with anyio's plugin (it comes with FastAPI).

``@pytest.mark.anyio`` lets a test be ``async def``: the plugin runs it on an event
loop. Run them with ``python -m pytest test_stream_words.py`` in the folder that holds
both files (pytest puts that folder on the import path).
"""

import asyncio

import pytest
from stream_words import stream_words

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"  # anyio can also run trio; this course drives asyncio


async def test_words_arrive_in_order():
    words = [word async for word in stream_words("many lanes zero waiting", delay=0)]
    assert words == ["many", "lanes", "zero", "waiting"]


async def test_an_empty_text_streams_nothing():
    assert [word async for word in stream_words("", delay=0)] == []


async def test_two_readers_take_turns():
    # A stream that awaits between words lets the other reader in: their words
    # interleave. One that blocks (time.sleep) would finish before the other starts.
    heard = []

    async def read(name):
        async for word in stream_words("one two three", delay=0):
            heard.append((name, word))

    await asyncio.gather(read("A"), read("B"))
    assert [name for name, _ in heard] == ["A", "B", "A", "B", "A", "B"]
