"""AI City's real server: ``uvicorn citylib.server:app``, and how a notebook runs one.

The app and its helpers live in :mod:`citylib._lessons.server`; this module is the
import path a server (uvicorn, a teacher's deployment) and notebook 04 use.
"""

from citylib._lessons.server import (
    SYSTEMS,
    ManagedServer,
    RoutingSystem,
    app,
    bare_app,
    create_app,
    shared_server,
    system_path,
)

__all__ = [
    "SYSTEMS",
    "ManagedServer",
    "RoutingSystem",
    "app",
    "bare_app",
    "create_app",
    "shared_server",
    "system_path",
]
