"""AI City's FastAPI app, and a uvicorn server a notebook can start and stop.

The app, ``citylib.server:app``, answers the seed's routes on the Async Highway:
``/weather`` (the weather service, 1 city second), ``/image``, ``/chat`` (and the
other services by name), ``/city-report``, which gathers weather, image and
chat at once, and ``/chat/stream``, the chat's reply token by token as server-sent
events (:mod:`citylib._lessons.chat_stream`; its blocking twin is under ``/trap``).
The same routes come in four *routing systems*, one per path prefix, so a surge can
compare them like for like:

========================  ==============================================================
``/blocking/...``         🚧 one lane: a ``def`` route behind one global lock
``/threadpool/...``       🧵 plain ``def`` routes on FastAPI's thread pool (40 lanes)
``/trap/...``             🪤 ``async def`` that blocks (the ``time.sleep`` trap)
``/async/...``            ⚡ ``async def`` + ``await``: the Async Highway (also at ``/``)
========================  ==============================================================

Every route takes ``?latency=SECONDS`` (city seconds, 0 to :data:`MAX_LATENCY`) to
set the upstream service's latency; a malformed value gets a 422 with a message
saying what to send instead.

:class:`ManagedServer` runs an app on 127.0.0.1 in a background thread, because
``uvicorn.run()`` cannot start inside a notebook (its event loop is already
running): idempotent ``start``/``stop``, a context manager, a free port, and a
clean stop on interpreter exit or kernel restart.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from citylib._core import clock, services
from citylib._lessons.chat_stream import FIELD_HINTS, STREAM_PATH, stream_router

__all__ = [
    "DEFAULT_BACKLOG",
    "LOOPBACK_HOSTS",
    "MAX_LATENCY",
    "REPORT_SERVICES",
    "SYSTEMS",
    "ManagedServer",
    "RoutingSystem",
    "app",
    "bare_app",
    "create_app",
    "shared_server",
    "system_path",
]

#: The longest upstream latency a request may ask for, in city seconds.
MAX_LATENCY = 60.0

#: What ``/city-report`` gathers, in the seed's order.
REPORT_SERVICES = ("weather", "image", "chat")

#: Hosts a managed server may listen on: this machine only.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

#: Pending connections the listening socket queues (the kernel caps it at
#: ``net.core.somaxconn``). uvicorn's default, 2048, drops the SYNs of a
#: 10,000-user surge; a dropped SYN is retried only after a whole second.
DEFAULT_BACKLOG = 16384

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class RoutingSystem:
    """One way to route AI City's requests, served under its own path prefix.

    Attributes:
        name: The path prefix without slashes, such as ``"threadpool"``.
        emoji: Its sign on charts and buttons.
        title: Its name in words.
        lanes: How many requests it serves at once, in words.
        story: What happens to a surge, as Popy would say it.
    """

    name: str
    emoji: str
    title: str
    lanes: str
    story: str

    @property
    def label(self) -> str:
        """What a learner reads, such as ``"⚡ async def + await"``."""
        return f"{self.emoji} {self.title}"


#: The four routing systems, worst first.
SYSTEMS: dict[str, RoutingSystem] = {
    s.name: s
    for s in (
        RoutingSystem(
            "blocking",
            "🚧",
            "Blocking single lane",
            "one request at a time",
            "One lane, one car at a time: everyone else waits in line until they give up.",
        ),
        RoutingSystem(
            "threadpool",
            "🧵",
            "def routes on the threadpool",
            "40 at a time",
            "FastAPI lends 40 worker threads: 40 lanes, so 1,000 cars take about 25 trips.",
        ),
        RoutingSystem(
            "trap",
            "🪤",
            "async def + time.sleep (the trap)",
            "one at a time, loop frozen",
            "It says async, but time.sleep() freezes the whole highway: one car at a time.",
        ),
        RoutingSystem(
            "async",
            "⚡",
            "async def + await",
            "every request at once",
            "Every car gets its own lane: while one awaits the cloud, the rest keep moving.",
        ),
    )
}


def system_path(system: str, endpoint: str = "weather", latency: float | None = None) -> str:
    """The path of ``endpoint`` in routing ``system``, such as ``/async/weather?latency=1``.

    Raises:
        ValueError: For an unknown system.
    """
    if system not in SYSTEMS:
        raise ValueError(f"unknown routing system {system!r}; choose one of {', '.join(SYSTEMS)}")
    path = f"/{system}/{endpoint.strip('/')}"
    return path if latency is None else f"{path}?latency={latency:g}"


Latency = Annotated[
    float | None,
    Query(
        ge=0,
        le=MAX_LATENCY,
        allow_inf_nan=False,
        description="Upstream latency in city seconds (default: the service's own).",
    ),
]


def _service(name: str, latency: float | None) -> services.Service:
    """The service ``name`` with its latency overridden, or a 404 naming the real ones."""
    try:
        service = services.get_service(name)
    except ValueError:
        known = ", ".join(services.SERVICES)
        raise HTTPException(
            404, f"AI City has no {name!r} service; try one of: {known}, city-report"
        ) from None
    return service if latency is None else dataclasses.replace(service, latency=latency)


@dataclass(frozen=True)
class _Roads:
    """What an app's routes share: the called-off event and the app's clock speed."""

    called_off: threading.Event
    speed: float | None

    def pick(self, name: str, latency: float | None) -> services.Service:
        """The service to call, stretched to last ``latency`` at this app's clock speed."""
        service = _service(name, latency)
        if self.speed is None:
            return service
        return dataclasses.replace(service, latency=service.latency * clock.speed() / self.speed)

    def tidy(self, answer: dict[str, Any], service: services.Service) -> dict[str, Any]:
        """Report the latency the request asked for, not the stretched one."""
        if self.speed is not None:
            answer["latency"] = round(service.latency * self.speed / clock.speed(), 3)
        return answer

    async def call(self, name: str, latency: float | None) -> dict[str, Any]:
        """Ask a service politely: ``await``."""
        service = self.pick(name, latency)
        return self.tidy(await services.call(service), service)

    def call_blocking(self, service: services.Service) -> dict[str, Any]:
        """Ask a picked service rudely: the thread waits (and can be called off)."""
        return self.tidy(services.call_blocking(service, cancel=self.called_off), service)


def create_app(speed: float | None = None) -> FastAPI:
    """A fresh AI-City app: the four routing systems, with state of their own.

    Each app has its own one-lane lock and its own *called-off* event
    (``app.state.called_off``): setting it ends every blocking wait in flight
    with a 503, which is how :class:`ManagedServer` stops promptly even with a
    thousand requests stuck behind the ``time.sleep`` trap.

    Args:
        speed: The clock speed this app's latencies run at. ``None`` follows
            ``CITYLIB_SPEED``; the surge game pins 1 (real time) because the CPU
            work of a thousand connections cannot be sped up with the clock.
    """
    if speed is not None:
        speed = clock.validate_speed(speed)
    app = FastAPI(
        title="AI City (Citypopy)",
        summary="Mock AI services behind four routing systems, for the Async Highways course.",
        version="0.1.0",
    )
    roads = _Roads(threading.Event(), speed)
    app.state.called_off = roads.called_off
    # The chat's token stream (server-sent events): the Highway's, and the trap's twin.
    # First, so that a stream request is matched at once, not after every other route
    # (no other route takes two path segments, so the order changes nothing else).
    for prefix, trap in (("", False), ("/async", False), ("/trap", True)):
        stream = stream_router(roads.called_off, speed, trap=trap)
        app.include_router(stream, prefix=prefix, tags=["stream"])
    app.include_router(_highway_routes(roads))  # the seed's routes, at the top level
    app.include_router(_highway_routes(roads), prefix="/async", tags=["async"])
    app.include_router(_threadpool_routes(roads), prefix="/threadpool", tags=["threadpool"])
    app.include_router(_blocking_routes(roads), prefix="/blocking", tags=["blocking"])
    app.include_router(_trap_routes(roads), prefix="/trap", tags=["trap"])
    _add_error_handlers(app)

    @app.get("/", tags=["map"], response_model=None)
    async def city_map() -> dict[str, Any]:
        """The city map: every routing system and its routes."""
        return {
            "city": "Citypopy",
            "services": {s.name: s.latency for s in services.SERVICES.values()},
            "systems": {
                s.name: {
                    "title": s.label,
                    "lanes": s.lanes,
                    "routes": [system_path(s.name, e) for e in ("weather", "city-report")],
                }
                for s in SYSTEMS.values()
            },
            "latency": f"add ?latency=SECONDS (city seconds, 0 to {MAX_LATENCY:g})",
            "stream": [f"{p}{STREAM_PATH}?prompt=hello" for p in ("", "/trap")],
        }

    return app


def _highway_routes(roads: _Roads) -> APIRouter:
    """⚡ ``async def`` + ``await``: while one request awaits, the loop serves the rest."""
    router = APIRouter()

    # response_model=None on every route: FastAPI would otherwise validate the
    # returned dict, and for a `def` route it does so on the thread pool, where
    # the answer queues behind every request still waiting for a thread; a
    # surge's first answers would then all leave together at the very end.
    @router.get("/city-report", response_model=None)
    async def city_report(latency: Latency = None) -> dict[str, Any]:
        """Weather, image and chat, all at once (``asyncio.gather``)."""
        weather, image, chat = await asyncio.gather(
            *(roads.call(name, latency) for name in REPORT_SERVICES)
        )
        return {"weather": weather, "image": image, "chat": chat}

    @router.get("/{service}", response_model=None)
    async def ask(service: str, latency: Latency = None) -> dict[str, Any]:
        """One service, awaited politely."""
        return await roads.call(service, latency)

    return router


def _threadpool_routes(roads: _Roads) -> APIRouter:
    """🧵 Plain ``def`` routes: FastAPI runs each on AnyIO's thread pool (40 threads)."""
    router = APIRouter()

    @router.get("/city-report", response_model=None)
    def city_report(latency: Latency = None) -> dict[str, Any]:
        """Weather, then image, then chat: one thread does them in turn."""
        return {name: roads.call_blocking(roads.pick(name, latency)) for name in REPORT_SERVICES}

    @router.get("/{service}", response_model=None)
    def ask(service: str, latency: Latency = None) -> dict[str, Any]:
        """One service; the worker thread blocks until it answers."""
        return roads.call_blocking(roads.pick(service, latency))

    return router


def _blocking_routes(roads: _Roads) -> APIRouter:
    """🚧 One lane for the whole city: a global lock lets one request through at a time."""
    router = APIRouter()
    one_lane = threading.Lock()

    @router.get("/city-report", response_model=None)
    def city_report(latency: Latency = None) -> dict[str, Any]:
        """The report, in the one lane, one service after another."""
        chosen = [roads.pick(name, latency) for name in REPORT_SERVICES]
        with one_lane:
            return {s.name: roads.call_blocking(s) for s in chosen}

    @router.get("/{service}", response_model=None)
    def ask(service: str, latency: Latency = None) -> dict[str, Any]:
        """One service, once the single lane is free."""
        chosen = roads.pick(service, latency)
        with one_lane:
            return roads.call_blocking(chosen)

    return router


def _trap_routes(roads: _Roads) -> APIRouter:
    """🪤 ``async def`` routes that block: the event loop, and every lane, freezes."""
    router = APIRouter()

    # The trap: call_blocking() is time.sleep() in effect (the Pro tip's "never"),
    # inside async def, so it runs on the event loop itself. It waits on the
    # called-off event rather than time.sleep so that stop() can end it.
    @router.get("/city-report", response_model=None)
    async def city_report(latency: Latency = None) -> dict[str, Any]:
        """The report, blocking the loop for each service in turn."""
        return {name: roads.call_blocking(roads.pick(name, latency)) for name in REPORT_SERVICES}

    @router.get("/{service}", response_model=None)
    async def ask(service: str, latency: Latency = None) -> dict[str, Any]:
        """One service, blocking the whole event loop while it waits."""
        return roads.call_blocking(roads.pick(service, latency))

    return router


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's list of errors stays under "detail" for programs; people get
        # one sentence that says what to send instead.
        return JSONResponse(
            {"message": _explain(exc), "detail": _plain_errors(exc)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No road {request.url.path} in AI City; GET / shows the map."
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(clock.CalledOffError)
    async def called_off(request: Request, exc: clock.CalledOffError) -> JSONResponse:
        return JSONResponse(
            {"detail": "AI City is closing this road: the request was called off."},
            status_code=503,
        )


def _explain(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = str(error.get("loc", ("?",))[-1])
        got = error.get("input")
        if field == "latency":
            parts.append(
                f"latency must be a number of city seconds from 0 to {MAX_LATENCY:g}, "
                f"such as ?latency=1 (got {got!r})"
            )
        elif field in FIELD_HINTS:
            parts.append(f"{FIELD_HINTS[field]} (got {got!r})")
        else:
            parts.append(f"{field}: {error.get('msg', 'invalid')} (got {got!r})")
    return "; ".join(parts) or "malformed request"


def _plain_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Pydantic puts exception objects in "ctx"; JSON wants plain values.
    return [
        {k: v for k, v in error.items() if k in ("type", "loc", "msg", "input")}
        for error in exc.errors()
    ]


#: The AI-City app, for ``uvicorn citylib.server:app``.
app = create_app()


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app answering every path like ``/async/weather``: the baseline.

    No framework, no validation: it reads ``latency`` from the query string (city
    seconds, default the weather service's), sleeps politely and answers JSON.
    Benchmarks serve it beside :data:`app` to see what FastAPI itself costs.
    """
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    latency = services.SERVICES["weather"].latency
    for pair in scope.get("query_string", b"").split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == b"latency":
            with contextlib.suppress(ValueError):
                latency = float(value)
    if not 0 <= latency <= MAX_LATENCY:  # NaN fails this too
        latency = services.SERVICES["weather"].latency
    await clock.sleep(latency)
    body = b'{"service":"weather","city":"Citypopy","temp":"22\\u00b0C"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ManagedServer:
    """A uvicorn server for AI City, running in a background thread.

    ``uvicorn.run()`` starts its own event loop, which a notebook cell (already
    inside one) cannot do; this runs ``uvicorn.Server`` on a loop of its own in a
    daemon thread instead. It listens on 127.0.0.1 only; port 0 (the default)
    picks a free port. ``start`` and ``stop`` are idempotent, ``start`` returns
    once the server accepts requests, and every running server is stopped when
    the interpreter exits (a kernel restart included).

    Example:
        >>> with ManagedServer() as city:          # doctest: +SKIP
        ...     city.url
        'http://127.0.0.1:41873'

    Args:
        app: The ASGI app to serve (default: a fresh :func:`create_app`).
        host: A loopback address (see :data:`LOOPBACK_HOSTS`).
        port: The port; 0 picks a free one.
        backlog: Connections the socket queues before accepting (see
            :data:`DEFAULT_BACKLOG`).
        log_level: uvicorn's log level; ``"warning"`` keeps a notebook quiet.
        startup_timeout: Real seconds ``start`` waits for the server to be ready.

    Raises:
        ValueError: For a host that is not this machine, or a bad port.
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = DEFAULT_BACKLOG,
        log_level: str = "warning",
        startup_timeout: float = 10.0,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"AI City's server listens on this machine only ({', '.join(LOOPBACK_HOSTS)}), "
                f"not {host!r}"
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be a whole number from 0 to 65535, not {port!r}")
        self.app: ASGIApp = app if app is not None else create_app()
        self.host = host
        self.backlog = backlog
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._port: int | None = None
        self._server: Any = None  # uvicorn.Server while running
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        state = getattr(self.app, "state", None)
        event = getattr(state, "called_off", None)
        self._called_off = event if isinstance(event, threading.Event) else threading.Event()

    @property
    def running(self) -> bool:
        """Whether the server is accepting requests."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        """The port it listens on.

        Raises:
            RuntimeError: When the server is not running.
        """
        if self._port is None or not self.running:
            raise RuntimeError("AI City's server is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:41873`` (while running)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ManagedServer:
        """Start serving in the background and wait until it accepts requests.

        Returns:
            The server itself, so ``city = ManagedServer().start()`` reads well.

        Raises:
            RuntimeError: If the server could not start in ``startup_timeout``.
            OSError: If the port is taken.
        """
        import uvicorn  # here, not at import: a notebook that never serves never pays

        with self._lock:
            if self.running:
                return self
            sock = self._listen()
            config = uvicorn.Config(
                self.app,
                log_config=None,  # leave the host's (the notebook's) logging alone
                log_level=self.log_level,
                access_log=False,
                backlog=self.backlog,
                lifespan="auto",
                # Requests still running when stop() is called have this long.
                timeout_graceful_shutdown=2,
            )
            server = uvicorn.Server(config)
            self._failure = None
            thread = threading.Thread(
                target=self._serve,
                args=(server, sock),
                name=f"citylib-server-{self._port}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            _watch(self)
            thread.start()
            deadline = time.perf_counter() + self.startup_timeout
            while not server.started:
                if not thread.is_alive() or time.perf_counter() > deadline:
                    self._halt(server, thread)
                    reason = f": {self._failure!r}" if self._failure else ""
                    raise RuntimeError(f"AI City's server did not start{reason}")
                time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end (nothing happens if stopped).

        Requests still in flight are called off: blocking waits end at once with a
        503, so even a thousand requests stuck in the trap do not hold the stop up.

        Args:
            timeout: Real seconds to wait before forcing the exit.
        """
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            self._halt(server, thread, timeout)

    def __enter__(self) -> ManagedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<ManagedServer {where}>"

    def _listen(self) -> socket.socket:
        # Binding here, not in uvicorn, tells us the port before the thread starts
        # and raises a clear OSError in the caller's thread if it is taken.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        host = "127.0.0.1" if self.host == "localhost" else self.host
        sock = socket.create_server(
            (host, self._requested_port), family=family, backlog=self.backlog
        )
        self._port = sock.getsockname()[1]
        return sock

    def _serve(self, server: Any, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit included: uvicorn exits on a failed start
            self._failure = exc
        finally:
            sock.close()

    def _halt(self, server: Any, thread: threading.Thread, timeout: float = 10.0) -> None:
        self._called_off.set()  # every blocking wait in flight ends now
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._called_off.clear()
        self._server = self._thread = None
        _running.discard(self)


# Servers still running, so the interpreter's exit can stop them; registered on
# the first start, not at import.
_running: set[ManagedServer] = set()
_atexit_registered = False
_shared: ManagedServer | None = None


def _watch(server: ManagedServer) -> None:
    global _atexit_registered
    _running.add(server)
    if not _atexit_registered:
        atexit.register(_stop_all)
        _atexit_registered = True


def _stop_all() -> None:
    for server in list(_running):
        server.stop(timeout=3.0)


def shared_server() -> ManagedServer:
    """This process's AI-City server: started on the first call, the same one after.

    A notebook cell that calls it can run again without starting a second server.
    """
    global _shared
    if _shared is None:
        _shared = ManagedServer()
    return _shared.start()
