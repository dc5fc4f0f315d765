"""AI City's chat as server-sent events: ``GET /chat/stream?prompt=...``.

The reply leaves the server token by token as ``text/event-stream``: one
``data: <token>`` event per token, then ``data: [DONE]`` (the convention of the big
chat APIs). Two routes, the same stream:

* ``/chat/stream`` (and ``/async/chat/stream``): an async generator that awaits
  between tokens, so a thousand streams share the one event loop.
* ``/trap/chat/stream``: an ``async def`` generator that waits with ``time.sleep``
  (:func:`~citylib._core.stream.stream_reply_blocking`): while it sleeps the loop is
  held, and every other user's stream stalls until this one has finished.

Query: ``prompt`` (1 to :data:`~citylib._core.stream.MAX_PROMPT` characters),
``seed``, and ``think``/``gap`` in city seconds; anything else malformed gets a 422
saying what to send. :func:`sse_event` and :func:`read_events` are the two ends of
the wire format, so the server and its clients cannot disagree about it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from citylib._core import clock, stream

__all__ = [
    "DONE",
    "FIELD_HINTS",
    "MAX_GAP",
    "MAX_THINK",
    "STREAM_PATH",
    "read_events",
    "sse_event",
    "stream_router",
]

#: Where the stream is served, under each routing system's prefix.
STREAM_PATH = "/chat/stream"

#: The last event's data: the reply is complete.
DONE = "[DONE]"

#: The most city seconds a request may ask the service to think, and to wait per token.
MAX_THINK = 30.0
MAX_GAP = 2.0

#: What a 422 says for each query field of the stream routes.
FIELD_HINTS = {
    "prompt": (
        f"prompt is the question, 1 to {stream.MAX_PROMPT} characters, such as ?prompt=hello"
    ),
    "seed": "seed is a whole number from 0, such as ?seed=7",
    "think": f"think is city seconds before the first token, 0 to {MAX_THINK:g}",
    "gap": f"gap is city seconds between tokens, 0 to {MAX_GAP:g}",
}

Prompt = Annotated[str, Query(min_length=1, max_length=stream.MAX_PROMPT)]
Seed = Annotated[int, Query(ge=0, le=2**31)]
Think = Annotated[float, Query(ge=0, le=MAX_THINK, allow_inf_nan=False)]
Gap = Annotated[float, Query(ge=0, le=MAX_GAP, allow_inf_nan=False)]

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(data: str) -> bytes:
    """One server-sent event carrying ``data`` (a line break starts another data line)."""
    return "".join(f"data: {line}\n" for line in data.split("\n")).encode("utf-8") + b"\n"


# Every stream sends the same few dozen tokens: each event is encoded once.
_event = functools.lru_cache(maxsize=4096)(sse_event)
_DONE_EVENT = sse_event(DONE)


async def read_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The data of each event in a ``text/event-stream``, up to (not with) ``[DONE]``.

    ``chunks`` are the body's bytes cut anywhere: its lines, or whatever arrived
    (aiohttp's ``response.content.iter_any()``, the cheapest way to read thousands of
    streams). One space after ``data:`` belongs to the format; a token's own leading
    space stays.
    """
    data: list[str] = []
    pending = b""
    async for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8").rstrip("\r")
            if line:
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value[1:] if value.startswith(" ") else value)
                continue
            if not data:
                continue
            event, data = "\n".join(data), []
            if event == DONE:
                return
            yield event


def _checked(prompt: str) -> str:
    if not prompt.strip():
        raise HTTPException(422, FIELD_HINTS["prompt"] + " (got only spaces)")
    return prompt


def _response(events: Iterable[bytes] | AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=_HEADERS)


class EventStream(StreamingResponse):
    """``text/event-stream`` of a token stream: one event per token, then ``[DONE]``.

    What a thousand streams at once cost the server, kept small (profiled: a
    third of the app's time per stream): each event is encoded once (:data:`_event`);
    the headers and every event leave from the request's own task, at once (Starlette's
    ``StreamingResponse`` opens an AnyIO task group per stream and runs the stream in a
    task of its own, which starts only after every request already waiting); and
    ``[DONE]`` travels with the end of the body, one write instead of two. If the client
    leaves, a small task that waits only for the disconnect calls the stream off, as
    Starlette's does.
    """

    def __init__(self, tokens: AsyncIterator[str]) -> None:
        super().__init__(tokens, media_type="text/event-stream", headers=_HEADERS)
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = asyncio.current_task()
        state = {"streaming": True, "left": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if state["streaming"] and stream is not None:
                state["left"] = True
                stream.cancel()  # the client left: stop sleeping for its next token

        watcher = asyncio.ensure_future(watch())
        try:
            await self._send_all(send)
        except asyncio.CancelledError:
            # Our own call-off ends the request quietly; any other cancel goes on.
            if not state["left"] or stream is None or stream.uncancel() > 0:
                raise
        finally:
            state["streaming"] = False
            watcher.cancel()

    async def _send_all(self, send: Send) -> None:
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        await send(start)
        async for token in self.tokens:
            await send({"type": "http.response.body", "body": _event(token), "more_body": True})
        await send({"type": "http.response.body", "body": _DONE_EVENT, "more_body": False})


def stream_router(called_off: threading.Event, speed: float | None, *, trap: bool) -> APIRouter:
    """The stream route for one routing system.

    Args:
        called_off: Set when the server stops: a trapped stream in flight ends at once.
        speed: The clock speed the app's city seconds run at (``None``: the clock's own).
        trap: Serve the blocking twin inside ``async def`` (the ``time.sleep`` trap).
    """
    router = APIRouter()

    def stretch() -> float:
        # An app pinned to its own speed stretches the city's waits to match it.
        return 1.0 if speed is None else clock.speed() / speed

    if trap:

        @router.get(STREAM_PATH, response_model=None)
        async def chat_stream_trap(
            prompt: Prompt, seed: Seed = 0, think: Think = stream.THINK, gap: Gap = stream.GAP
        ) -> StreamingResponse:
            """💬 The reply as server-sent events, from a generator that blocks the loop."""
            f = stretch()
            tokens = stream.stream_reply_blocking(
                _checked(prompt), seed=seed, think=think * f, gap=gap * f, cancel=called_off
            )

            async def events() -> AsyncIterator[bytes]:
                # async def, yet time.sleep inside: nothing else runs until it ends.
                try:
                    for token in tokens:
                        yield sse_event(token)
                except clock.CalledOffError:
                    return  # the server is closing: end the stream, no [DONE]
                yield sse_event(DONE)

            return _response(events())

        return router

    @router.get(STREAM_PATH, response_model=None)
    async def chat_stream(
        prompt: Prompt, seed: Seed = 0, think: Think = stream.THINK, gap: Gap = stream.GAP
    ) -> EventStream:
        """💬 The reply as server-sent events, one ``data:`` event per token."""
        f = stretch()
        return EventStream(
            stream.stream_reply(_checked(prompt), seed=seed, think=think * f, gap=gap * f)
        )

    return router
