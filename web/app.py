"""The ASGI application: ``create_app`` assembles it; nothing happens at import.

What runs while it serves (the pool, the live hub's task, housekeeping) is ``lifespan.py``;
the routes are ``routes/``, one router per concern, taking their SQL from ``store``; the
one error handler is ``errors.py``.

``status`` is the shell's callable returning ``{"feeds": [FeedStatus.as_dict(), ...],
<counter>: number, ...}``; it feeds ``/metrics`` and the feed indicators on the map.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .auth import AuthConfig
from .errors import handle_error, handled
from .lifespan import lifespan
from .live import LiveHub
from .login import Argon2Gate
from .metrics import HttpCounters, HttpMetrics, Telemetry
from .middleware import BodyLimit, SecurityHeaders, csp
from .routes import ROUTERS
from .snapshot import VesselSnapshot

__all__ = ["create_app"]


def _version() -> str:
    try:
        return importlib.metadata.version("mda")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        return "unknown"


STATIC = Path(__file__).resolve().parent / "static"

DESCRIPTION = (
    "Maritime domain awareness for the Indian Ocean: vessels, tracks, alerts, "
    "zones. Every call needs a login session or `Authorization: Bearer <token>`; "
    "state changes made with a session need the `X-CSRF-Token` header."
)


def create_app(
    settings,
    db_url: str,
    *,
    hub: LiveHub | None = None,
    status: Callable[[], dict] | None = None,
    pool_max: int = 10,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """The web application. ``hub`` is the pipeline's live hub (a private one is made when
    None: alerts acknowledged here still reach every browser); ``status`` gives the feeds'
    state and pipeline counters for the map and ``/metrics``; ``telemetry`` the service's
    histograms for ``/metrics`` (empty ones of its own when None)."""
    hub = hub if hub is not None else LiveHub.from_settings(settings)
    if hub.signing_key is None:  # the alert frames' events are signed as the MQTT feeds'
        hub.use_installation(settings)
    if hub.status is None:
        hub.status = status
    app = FastAPI(
        title="mda",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan(settings, db_url, hub, pool_max),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )  # served behind the login
    app.state.settings = settings
    app.state.auth = AuthConfig.from_settings(settings)
    app.state.argon2 = Argon2Gate()  # bounds concurrent password verifications
    app.state.hub = hub
    app.state.vessels = VesselSnapshot(settings.vessels_snapshot_s)
    app.state.status = status
    app.state.http_counters = HttpCounters()
    app.state.http_limits = {}  # refusals of BodyLimit, for /metrics
    app.state.telemetry = telemetry if telemetry is not None else Telemetry()
    app.state.version = _version()

    for exc_type in handled():
        app.add_exception_handler(exc_type, handle_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    # Added last = outermost: security headers on everything; the counters see the status;
    # bodies are bounded before any route (or its authentication) reads them.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.http_max_body_bytes,
        anonymous_max_bytes=settings.http_max_anonymous_body_bytes,
        timeout_s=settings.http_body_timeout_s,
        stats=app.state.http_limits,
        path_limits={"/api/extracts/import": settings.extract_import_max_bytes},
    )
    app.add_middleware(HttpMetrics, counters=app.state.http_counters)
    app.add_middleware(SecurityHeaders, csp=csp(settings.tiles_url or ""))
    return app
