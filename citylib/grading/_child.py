"""One submission's child: its cells in a fresh, plain Python, talking to the judge.

``python -m citylib.grading._child FD`` runs inside the sandbox (see
:mod:`citylib.grading._sandbox`), with ``FD`` one end of a socket pair whose other
end the judge holds, outside. It says :class:`~._messages.Hello` before any
submission code runs, then does what the judge's frames say: run a cell
(:class:`~._messages.RunCell`; compiled with top-level ``await``, IPython's
transformer only when plain Python refuses a line such as ``%time``), or call the
answer with proxy sources (:class:`~._messages.StartDrive`). A proxy source sends
an ``invoke`` frame when called and a ``call`` frame when awaited, then waits for the
judge's ``answer``: the latency passes on the judge's clock, and the payload's token
is the judge's. Echoes are answered from a callback on this loop, so a held loop
answers late. No Jupyter kernel: no display path, no IPython shell, no judge here.

Nothing this process says is believed about anything but itself: the judge times
every call and answer on its own clock, watches this process's thread from outside,
and reads the returned value as data.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
import socket
import sys
import traceback
import types
from collections.abc import Coroutine
from typing import Any

from citylib._lessons.sprint_contract import CellStatus, DriveEnd
from citylib.grading import _messages as m

__all__ = ["CappedText", "as_data", "compile_cell", "main", "text"]

_DEPTH = 32
_TEXT = 2000  # characters of an error message kept: the rest is the learner's to read
_INT_BITS = 1100  # past a float's range: no number of seconds
_IPYTHON_LINE = re.compile(r"(?m)^\s*[%!]|\?\s*$")


class CappedText(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0
        self._parts: list[str] = []
        self._kept = 0

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    def write(self, text: str) -> int:
        """Keep what fits, count what does not; returns ``len(text)`` like a real stream."""
        text = str(text)
        room = self.limit - self._kept
        if room > 0:
            self._parts.append(text[:room])
            self._kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> tuple[str, int]:
        """What was kept and dropped since the last take."""
        text, dropped = "".join(self._parts), self.dropped
        self._parts, self.dropped = [], 0
        return text, dropped


def compile_cell(code: str, filename: str) -> types.CodeType:
    """A cell as a code object, top-level ``await`` allowed (IPython syntax when needed)."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        compiled: types.CodeType = compile(code, filename, "exec", flags=flags, dont_inherit=True)
        return compiled
    except SyntaxError:
        if not _IPYTHON_LINE.search(code):
            raise
        from IPython.core.inputtransformer2 import TransformerManager

        transformed = str(TransformerManager().transform_cell(code))  # type: ignore[no-untyped-call]
        try:
            again: types.CodeType = compile(
                transformed, filename, "exec", flags=flags, dont_inherit=True
            )
        except SyntaxError:
            pass
        else:
            return again
        raise


def text(value: str, limit: int = _TEXT) -> str:
    """A string that crosses the wire whatever it holds: at most ``limit`` characters,
    a lone surrogate written out as its escape."""
    return value[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def as_data(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: dicts, lists, strings, numbers; other objects by type name.

    Subclasses of these are read through the base type's own methods and any other
    object is only named, so none of the learner's code runs here; an int too large to
    be seconds is named, not written out (past 4,300 digits Python will not print it).
    """
    kind = type(value)
    if value is None or kind is bool:
        return value
    if issubclass(kind, float):
        return float.__float__(value)
    if issubclass(kind, str):
        plain = str.__str__(value)
        return text(plain, len(plain))
    if issubclass(kind, int):
        number = int.__int__(value)
        if number.bit_length() > _INT_BITS:
            return {"$object": f"int of about {number.bit_length() * 0.30103:,.0f} digits"}
        return number
    if depth > _DEPTH:
        return {"$object": "too deep"}
    # Subclasses (an OrderedDict, a namedtuple) are read through the base type's own
    # methods: nothing the learner overrode runs here.
    if issubclass(kind, dict):
        return {_key(k): as_data(v, depth + 1) for k, v in dict.items(value)}
    if issubclass(kind, list):
        return [as_data(v, depth + 1) for v in list.__iter__(value)]
    if issubclass(kind, tuple):
        return [as_data(v, depth + 1) for v in tuple.__iter__(value)]
    return {"$object": _type_name(value)}


def _key(key: Any) -> str:
    """A dict key as a string key: a plain one shown, a learner's object only named."""
    if type(key) is str:
        return text(key, len(key))
    plain = type(key) in (bool, float) or key is None
    plain = plain or (type(key) is int and key.bit_length() <= _INT_BITS)
    return f"$key:{_type_name(key)}:{key!r:.40}" if plain else f"$key:{_type_name(key)}"


def _type_name(value: Any) -> str:
    try:
        return text(str(type(value).__name__), 80)
    except Exception:  # a metaclass can make even the name raise
        return "object"


def _describe(exc: BaseException) -> str:
    """``Type: message``, whatever the exception's own ``__str__`` does (raise, or
    return something that is not text)."""
    try:
        message = str(exc)
    except Exception:
        message = "(its message could not be read)"
    name = _type_name(exc)
    return text(f"{name}: {message}" if message else name)


def _line(exc: BaseException, filename: str) -> int:
    try:
        tb = traceback.extract_tb(exc.__traceback__)
    except Exception:  # a traceback the submission tampered with: no line, no crash
        return 0
    lines = [f.lineno for f in tb if f.filename == filename]
    return (lines[-1] or 0) if lines else 0


class _QuietSprint(types.ModuleType):
    """``citylib.sprint`` without its chart: the lesson's names, loaded on first use.

    A plain Python child has nowhere to draw, and the real module imports matplotlib
    (0.6 s a submission); the Sprint's API is otherwise the same.
    """

    def __getattr__(self, name: str) -> Any:
        from citylib._lessons import sprint as lesson

        if name == "compare_timings":

            async def compare_timings(
                parallel_fetch: Any, sequential_fetch: Any = None, *, draw: bool = True
            ) -> None:
                await lesson.stretch_timings(parallel_fetch, sequential_fetch)

            return compare_timings
        if name in (
            "Source", "check", "default_sources", "describe_result", "describe_sources",
            "hint_if_unwritten",
        ):  # fmt: skip
            return getattr(lesson, name)
        raise AttributeError(f"module 'citylib.sprint' has no attribute {name!r}")


class _Source:
    """A proxy for one of the judge's sources: the judge times it and answers it."""

    __slots__ = ("_child", "_drive", "_name")

    def __init__(self, child: _Child, drive: int, name: str) -> None:
        self._child, self._drive, self._name = child, drive, name

    def __call__(self) -> Coroutine[Any, Any, dict[str, Any]]:
        return self._child.invoke(self._drive, self._name)

    def __repr__(self) -> str:
        return f"<judge's source {self._name!r}>"


class _Channel(asyncio.Protocol):
    def __init__(self, child: _Child) -> None:
        self.child = child
        self.reader = m.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.reader.feed(data)
        except m.FrameError:
            os._exit(70)  # the judge never sends such a frame: something is very wrong
        for frame in frames:
            if isinstance(frame, m.Echo):
                self.send(m.EchoReply(frame.seq))  # from this loop: a held loop answers late
            elif isinstance(frame, m.Answer):
                self.child.answered(frame)
            else:
                self.child.inbox.put_nowait(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.child.inbox.put_nowait(None)
        self.closed.set()

    def send(self, frame: m.Frame) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(m.encode_frame(frame))


class _Child:
    def __init__(self, sock: socket.socket, output_limit: int) -> None:
        self.sock = sock
        self.inbox: asyncio.Queue[m.Frame | None] = asyncio.Queue()  # 3.10+: no loop bound yet
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.output = CappedText(output_limit)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.unawaited: list[Coroutine[Any, Any, Any]] = []
        self.calls = 0
        self.channel = _Channel(self)

    def invoke(self, drive: int, name: str) -> Coroutine[Any, Any, dict[str, Any]]:
        self.calls += 1
        call = self.calls
        self.channel.send(m.Invoke(drive, call, name))
        coroutine = self._await_answer(drive, call)
        self.unawaited.append(coroutine)
        return coroutine

    async def _await_answer(self, drive: int, call: int) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[call] = future
        self.channel.send(m.Call(drive, call))
        return await future

    def answered(self, frame: m.Answer) -> None:
        future = self.pending.pop(frame.call, None)
        if future is not None and not future.done():
            future.set_result(frame.payload)

    async def run_cell(self, frame: m.RunCell) -> m.CellDone:
        try:
            code = compile_cell(frame.code, frame.filename)
        except SyntaxError as exc:
            where = f" (line {exc.lineno} of the cell)" if exc.lineno else ""
            return self._cell("error", f"SyntaxError: {exc.msg}{where}", exc.lineno or 0)
        try:
            outcome = eval(code, self.namespace)  # running the submission is the point
            if inspect.iscoroutine(outcome):
                await outcome
        except NotImplementedError:
            return self._cell("not_attempted")
        except BaseException as exc:  # SystemExit, a cancelled task: the cell's own error
            line = _line(exc, frame.filename)
            where = f" (line {line} of the cell)" if line else ""
            return self._cell("error", f"{_describe(exc)}{where}", line)
        return self._cell("")

    def _cell(self, status: CellStatus, error: str = "", line: int = 0) -> m.CellDone:
        printed, dropped = self.output.take()
        return m.CellDone(status, text(error), line, text(printed, len(printed)), dropped)

    async def drive(self, frame: m.StartDrive) -> m.DriveDone:
        fn = self.namespace.get(frame.function)
        if not callable(fn):
            return self._done(frame.drive, "missing", f"{frame.function} is not defined")
        sources = {name: _Source(self, frame.drive, name) for name in frame.sources}
        try:
            result = fn(sources)
            if inspect.isawaitable(result):
                result = await result
        except NotImplementedError:
            return self._done(frame.drive, "not_implemented")
        except BaseException as exc:  # SystemExit in an answer is its own error
            filename = "<parallel-fetch-sprint cell>"
            line = _line(exc, filename) or _line(exc, "<parallel-fetch-stretch cell>")
            return self._done(frame.drive, "raised", _describe(exc), line)
        finally:
            for coroutine in self.unawaited:
                if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                    coroutine.close()  # never awaited: the judge reports it, Python need not warn
            self.unawaited.clear()
        data = as_data(result)
        done = self._done(frame.drive, "returned", result=data, result_type=_type_name(result))
        if len(m.encode_frame(done)) > m.DEFAULTS.frame_bytes // 2:
            done = self._done(frame.drive, "returned", result={"$object": "too large"},
                              result_type=_type_name(result))  # fmt: skip
        return done

    def _done(
        self, drive: int, outcome: DriveEnd, error: str = "", line: int = 0, **rest: Any
    ) -> m.DriveDone:
        printed, dropped = self.output.take()
        return m.DriveDone(drive, outcome, text(error), line, output=text(printed, len(printed)),
                           dropped=dropped, **rest)  # fmt: skip

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(lambda: self.channel, sock=self.sock)
        selector = getattr(loop, "_selector", None)
        loop_fd = selector.fileno() if selector is not None and hasattr(selector, "fileno") else -1
        from citylib import __version__

        self.channel.send(m.Hello(os.getpid(), loop_fd, __version__))
        import citylib

        # Both spellings of an answer's import find the quiet one: ``from citylib import
        # sprint`` reads the attribute, ``from citylib.sprint import ...`` sys.modules.
        citylib.sprint = sys.modules["citylib.sprint"] = _QuietSprint("citylib.sprint")
        sys.stdout = sys.stderr = self.output
        while True:
            try:
                frame = await self.inbox.get()
            except asyncio.CancelledError:  # the submission cancelled every task: go on
                continue
            if frame is None:
                return  # the judge went away
            if isinstance(frame, m.Stop):
                break
            reply: m.Frame
            if isinstance(frame, m.RunCell):
                reply = await self.run_cell(frame)
            elif isinstance(frame, m.StartDrive):
                reply = await self.drive(frame)
            else:
                continue
            self.channel.send(reply)
        printed, dropped = self.output.take()
        self.channel.send(m.Bye(text(printed, len(printed)), dropped))
        if self.channel.transport is not None:
            self.channel.transport.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self.channel.closed.wait(), 5)


def main(argv: list[str] | None = None) -> None:
    """Serve the judge on the inherited socket ``argv[0]``; exit without teardown."""
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    sock.setblocking(False)
    limit = int(args[1]) if len(args) > 1 else m.DEFAULTS.output_limit
    child = _Child(sock, limit)
    code = 0
    try:
        asyncio.run(child.serve())
    except BaseException:  # the submission broke the loop itself: the judge sees the end
        code = 1
    os._exit(code)  # skip interpreter teardown: a submission's atexit hooks do not run


if __name__ == "__main__":  # pragma: no cover
    main()
