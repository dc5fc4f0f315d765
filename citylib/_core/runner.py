"""``run(coro)``: run a coroutine to its end from a script *or* inside Jupyter.

``asyncio.run()`` refuses to start inside a running event loop, which is where a
Jupyter cell lives. In a notebook prefer top-level ``await``; ``run`` is for code
that must work in both places. Inside a running loop it runs the coroutine on a
fresh loop in a helper thread and waits for it, so the caller's loop is paused
meanwhile (just as a synchronous call would pause it).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result (or raise its exception)."""
    if not asyncio.iscoroutine(coro):
        raise TypeError(
            f"run() needs a coroutine such as run(main()), not {type(coro).__name__}; "
            "did you forget the parentheses?"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)

    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()  # the timeline and conditions travel along

    def worker() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name="citylib-run", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
