"""What every live widget shares: one run in flight, called off by the next flip.

A flip of a toggle starts a run as a task on the notebook's own event loop (the
kernel's), so the loop stays free to draw frames while the run goes on. The task
is kept in an attribute: a task nobody holds can be garbage-collected mid-run, and
the next flip must find it to call it off. A run that fails, or a silly value,
shows a message in the status line instead of a traceback.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import ipywidgets as widgets

from citylib._core.race import Request, city_requests

__all__ = [
    "FPS",
    "LiveWidget",
    "ToggleWidget",
    "follow",
    "paint",
    "picture",
    "requests_from",
    "status_html",
    "toggle_buttons",
]

T = TypeVar("T")
P = ParamSpec("P")

#: Frames a real second while a run is drawn live: smooth, and cheap (a frame is ~10 ms).
FPS = 12.0


def status_html(text: str, *, warning: bool = False) -> str:
    """A status line as HTML: escaped, large enough to read, amber for a warning."""
    colour = "#8a4b00" if warning else "inherit"
    return (
        f'<div style="font-size: 1.1em; line-height: 1.5; min-height: 1.6em; '
        f'color: {colour}">{html.escape(text)}</div>'
    )


def picture() -> widgets.Image:
    """An empty PNG picture that shrinks to fit the notebook's width."""
    # Not stretched to the box's width: a chart keeps its drawn size, like a plain
    # output's chart, and shrinks only when the notebook is narrower.
    layout = widgets.Layout(max_width="100%", height="auto", align_self="flex-start")
    image = widgets.Image(format="png", layout=layout)
    image.add_class("citylib-chart")
    return image


_painter: ThreadPoolExecutor | None = None


async def paint(draw: Callable[P, bytes], *args: P.args, **kwargs: P.kwargs) -> bytes:
    """Render a frame in the painter thread and return its PNG bytes.

    A frame takes 10 to 25 ms to render. On the event loop that would delay every
    trip ending meanwhile, and the Async Highway would seem slower than it is; in
    one thread of its own, the loop stays free. One thread for every chart keeps
    renders in order: a run called off mid-frame cannot race the next run's frame.
    """
    global _painter
    if _painter is None:
        _painter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citylib-painter")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_painter, lambda: draw(*args, **kwargs))


async def follow(
    run: Awaitable[T], frame: Callable[[bool], Awaitable[None]], fps: float = FPS
) -> T:
    """Await ``run`` while drawing it: ``await frame(False)`` about ``fps`` times a second.

    Ends with ``await frame(True)`` once ``run`` is done, and returns its result. If
    the caller is cancelled (the toggle flipped again), ``run`` is cancelled too and
    awaited, so it can call off its worker threads before this returns. The first
    frame comes a frame's time after the start: the caller shows the empty road, and
    the cars pull out without a frame being painted beside them.
    """
    task = asyncio.ensure_future(run)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=1 / fps)
            if not task.done():
                await frame(False)
        result = task.result()
        await frame(True)
        return result
    finally:
        if not task.done():
            task.cancel()
            # Wait for its clean-up; the caller's own cancellation still propagates.
            await asyncio.wait({task})
        if not task.cancelled():
            # A gather called off ends holding a CancelledError rather than cancelled;
            # read it, or asyncio logs "exception was never retrieved" later.
            task.exception()


class LiveWidget(widgets.VBox):  # type: ignore[misc]
    """A box of widgets with at most one run in flight.

    Subclasses call :meth:`start` with a coroutine (a flip of their toggle); a new
    start calls the previous run off. :meth:`wait` waits for the runs to end
    (tests and scripts use it); :meth:`close` calls the run off and closes the box.

    Attributes:
        status: The status line (an HTML widget) that says what is going on.
    """

    #: What a reader without a live kernel sees instead of the widget (``text/plain``).
    plain_text = "a live widget: run the notebook to use it"

    def __init__(self, children: list[widgets.Widget], **kwargs: Any) -> None:
        self.status = widgets.HTML(status_html(""))
        self.status.add_class("citylib-status")
        super().__init__([*children, self.status], **kwargs)
        # Hooks for the browser tests (tests/browser): the widget, its chart and status.
        self.add_class("citylib-widget")
        self._task: asyncio.Task[None] | None = None
        # Runs called off but still cleaning up: held so they are not garbage-collected.
        self._stopping: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        # The widget's text/plain: stable (nbval compares it) and short (ipywidgets
        # cuts it at 110 characters).
        return f"{type(self).__name__}: {self.plain_text}"

    @property
    def running(self) -> bool:
        """Whether a run is in flight."""
        return self._task is not None and not self._task.done()

    def say(self, text: str, *, warning: bool = False) -> None:
        """Show ``text`` in the status line."""
        self.status.value = status_html(text, warning=warning)

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        value: str = self.status.value
        start = value.index(">") + 1
        return html.unescape(value[start : value.rindex("<")])

    def start(self, run: Coroutine[Any, Any, None]) -> None:
        """Call off the run in flight, if any, and start ``run`` on the running loop."""
        self.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            run.close()  # never started: closing it spares a "never awaited" warning
            self.say(
                "⚠️ This widget needs a running event loop: use it in a Jupyter notebook.",
                warning=True,
            )
            return
        self._task = loop.create_task(self._guarded(run))

    async def _guarded(self, run: Coroutine[Any, Any, None]) -> None:
        try:
            await run
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken service or a silly value: say so, don't crash
            self.say(f"⚠️ {exc}", warning=True)

    def cancel(self) -> None:
        """Call off the run in flight (it finishes cleaning up in the background)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def wait(self) -> None:
        """Wait until the run in flight, and any run being called off, have ended."""
        while True:
            pending = {t for t in (self._task, *self._stopping) if t is not None and not t.done()}
            if not pending:
                return
            await asyncio.wait(pending)

    def close(self) -> None:
        """Call off the run in flight and close the widgets."""
        if getattr(self, "_stopping", None) is not None:  # fully built (close runs at GC too)
            self.cancel()
        for child in self.children:
            child.close()
        super().close()


def requests_from(names: object) -> list[Request]:
    """The cars for a widget: ``None`` (all six), one service name, or a list of names.

    Raises:
        ValueError: With a message a learner can act on, for anything else.
    """
    if names is None or isinstance(names, str):
        return city_requests(None if names is None else [names])
    items = list(names) if isinstance(names, Iterable) else None
    if items is not None and all(isinstance(n, str) for n in items):
        return city_requests(items)
    raise ValueError(
        f"requests is a list of service names such as ['image', 'weather'], not {names!r}"
    )


def toggle_buttons(positions: Sequence[tuple[str, str]], tooltips: Sequence[str]) -> Any:
    """A row of toggle buttons, ``(label, mode)`` each, none chosen yet."""
    toggle = widgets.ToggleButtons(
        options=list(positions),
        value=None,
        tooltips=list(tooltips),
        style={"button_width": "auto"},
    )
    toggle.add_class("citylib-toggle")
    return toggle


class ToggleWidget(LiveWidget):
    """A live widget whose toggle picks what runs: every flip runs the new choice.

    Subclasses set ``self.toggle`` (see :func:`toggle_buttons`) before calling this
    class's ``__init__``, define :meth:`_run`, and call :meth:`_listen` once they
    are ready (a widget built from silly values stays deaf, its message showing).

    Attributes:
        toggle: The toggle (``None`` until the first flip); setting ``value`` flips it.
    """

    toggle: Any
    _ready = False  # listening to the toggle: set by _listen()

    def _listen(self) -> None:
        self.toggle.observe(self._on_flip, names="value")
        self._ready = True

    def _on_flip(self, change: dict[str, object]) -> None:
        if isinstance(change["new"], str):
            self.start(self._run(change["new"]))

    @property
    def modes(self) -> list[str]:
        """The toggle's choices."""
        return [mode for _, mode in self.toggle.options]

    def play(self, mode: str) -> None:
        """Flip the toggle to ``mode`` from code, or run ``mode`` again if it is chosen."""
        if mode not in self.modes:
            known = " and ".join(repr(m) for m in self.modes)
            self.say(f"⚠️ The toggle knows {known}, not {mode!r}.", warning=True)
            return
        if not self._ready:
            return  # built from a silly value: its message stays, nothing runs
        if self.toggle.value == mode:
            self.start(self._run(mode))
        else:
            self.toggle.value = mode  # the toggle shows the choice; its observer starts it

    def _run(self, mode: str) -> Coroutine[Any, Any, None]:
        raise NotImplementedError
