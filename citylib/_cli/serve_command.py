"""``citylib serve`` and ``citylib surge``: AI City's server and its surge in a terminal.

FastAPI, uvicorn and aiohttp load only when a command runs, so ``citylib --help``
stays quick.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import signal
import threading
from collections.abc import Iterator
from typing import Any

from citylib._core import clock

__all__ = ["add_cli", "run_serve", "run_surge"]

_SYSTEMS = ("blocking", "threadpool", "trap", "async")  # the server's SYSTEMS, not imported


def add_cli(subparsers: Any) -> None:
    """Add the ``serve`` and ``surge`` subcommands."""
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve AI City's FastAPI app on 127.0.0.1",
        description=(
            "Open AI City on this machine: /weather, /image, /chat, /city-report, and the "
            "same routes under /blocking, /threadpool, /trap and /async. Ctrl+C closes it."
        ),
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    serve.add_argument(
        "--app",
        choices=("citylib", "bare"),
        default="citylib",
        help="the AI-City app, or a bare ASGI app as a baseline (default: citylib)",
    )
    serve.add_argument(
        "--seconds", type=float, default=None, help="close after this many real seconds"
    )
    _add_speed(serve)
    serve.set_defaults(func=run_serve)

    surge: argparse.ArgumentParser = subparsers.add_parser(
        "surge",
        help="send 1,000 users to AI City at once and see if it stays alive",
        description=(
            "A surge of users on one routing system. Without --url it opens its own AI "
            "City on 127.0.0.1 first. Only servers on this machine can be surged."
        ),
    )
    surge.add_argument("--url", help="the full URL to surge (127.0.0.1, localhost or ::1 only)")
    surge.add_argument(
        "--system", choices=_SYSTEMS, default="async", help="routing system (default: async)"
    )
    surge.add_argument("--users", type=int, default=1000, help="users at once (default 1000)")
    surge.add_argument(
        "--latency", type=float, default=1.0, help="upstream latency, city seconds (default 1)"
    )
    surge.add_argument(
        "--patience",
        type=float,
        default=30.0,
        help="city seconds a user waits before giving up (default 30)",
    )
    surge.add_argument("--png", metavar="FILE", help="also write the chart as a PNG")
    surge.add_argument("--json", action="store_true", help="also print the figures as JSON")
    _add_speed(surge)
    surge.set_defaults(func=run_surge)


def _add_speed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help=f"clock speed, like {clock.ENV_VAR} (default: 1, real time)",
    )


@contextlib.contextmanager
def _speed(args: argparse.Namespace) -> Iterator[None]:
    with clock.scaled(args.speed if args.speed is not None else clock.speed()):
        yield


def run_serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl+C, SIGTERM, or ``--seconds`` have passed."""
    from citylib._lessons.server import ManagedServer, bare_app

    if args.seconds is not None and not args.seconds > 0:
        raise ValueError(f"--seconds must be positive, not {args.seconds!r}")
    city = ManagedServer(bare_app if args.app == "bare" else None, port=args.port)
    _tune_gc_for_serving()
    with _speed(args):
        closing = threading.Event()
        try:
            city.start()
        except OSError as exc:  # the port is taken: say so, not a traceback
            reason = f"cannot open port {args.port} ({exc.strerror}); try --port 0"
            raise ValueError(reason) from None
        with _on_sigterm(closing.set), city:
            # The first line carries the URL: scripts (and measure_surge) read it.
            print(f"🏙️  AI City is open at {city.url} (Ctrl+C closes it)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                closing.wait(args.seconds)
    print("🌙 AI City is closed.", flush=True)
    return 0


def _tune_gc_for_serving() -> None:
    """Make full garbage collections rare in a process that only serves.

    In a 10,000-user surge, profiling found a quarter of the server's time in full
    collections that scan every live request. Freezing what start-up created and
    raising the first threshold keeps collections for real garbage. Only the
    ``serve`` command does this: its process does nothing else.
    """
    gc.freeze()
    gc.set_threshold(50_000, 100, 100)


@contextlib.contextmanager
def _on_sigterm(handler: Any) -> Iterator[None]:
    # `kill` (and Popen.terminate) should close the city as cleanly as Ctrl+C.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: handler())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_surge(args: argparse.Namespace) -> int:
    """Run one surge, print its summary (and figures), maybe write the chart."""
    from citylib._lessons import surge
    from citylib._lessons.server import SYSTEMS, ManagedServer, system_path

    if args.png and not args.png.lower().endswith(".png"):
        raise ValueError(f"--png needs a file name ending in .png, not {args.png!r}")
    if args.url is not None:
        surge.check_url(args.url)
    with _speed(args), contextlib.ExitStack() as stack:
        if args.url is None:
            city = stack.enter_context(ManagedServer())
            url = city.url + system_path(args.system, "weather", args.latency)
            title = SYSTEMS[args.system].label
        else:
            url, title = args.url, ""
        print(f"🚗 {args.users:,} users head for {url} …", flush=True)
        result = surge.surge_blocking(url, args.users, patience=args.patience, title=title)
    print(result.summary())
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    if args.png:
        from citylib._views.lesson_charts import surge_chart
        from citylib._views.style import to_png

        with open(args.png, "wb") as f:
            f.write(to_png(surge_chart(result)))
        print(f"chart written to {args.png}")
    return 0
