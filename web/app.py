"""The ASGI application: REST API, live WebSocket, the map page, auth.

``create_app(settings, db_url, hub=..., status=...)`` builds it; nothing happens at import.
Its lifespan opens an async connection pool (``psycopg_pool``) and starts the live hub's
task; routes are thin and take their SQL from ``store.queries``.

``status`` is the shell's callable returning ``{"feeds": [FeedStatus.as_dict(), ...],
"stats": Pipeline.stats()}``; it feeds ``/metrics`` and the feed indicators on the map.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template
from typing import Any, Callable, Literal
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Path as PathParam, Query, Request
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from store import queries as q
from store.alerts import DESK_SEVERITIES, OUTCOMES, SEVERITIES

from . import auth as _auth
from .auth import AuthConfig, Principal, db_conn, require
from .errors import WebError, handle_error, handled
from .live import LiveHub, alert_payload
from .live import router as live_router
from .metrics import HttpCounters, HttpMetrics, render

__all__ = ["create_app"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"

GEOJSON = "application/geo+json"
MAX_TRACK = timedelta(days=31)
MMSI = PathParam(..., ge=0, le=999_999_999, description="the vessel's MMSI")
ALERT_ID = PathParam(..., ge=1, le=2**63 - 1)


# ------------------------------------------------------------------------------ parsing

_REL = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601 (naive means UTC), epoch seconds, ``now``, or relative ``-6h``/``-30m``."""
    if value is None or value == "":
        return None
    v = value.strip()
    now = datetime.now(timezone.utc)
    if v == "now":
        return now
    m = _REL.match(v)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        return datetime.fromtimestamp(float(v), timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        t = datetime.fromisoformat(v.replace(" ", "T") if "T" not in v and " " in v else v)
    except ValueError:
        raise WebError(422, "invalid", f"{name}: not a time (ISO 8601, epoch seconds, 'now' "
                                       "or relative like -6h)") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def parse_bbox(value: str | None) -> q.BBox | None:
    if not value:
        return None
    try:
        parts = [float(x) for x in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise WebError(422, "invalid", "bbox: four numbers minlon,minlat,maxlon,maxlat")
    min_lon, min_lat, max_lon, max_lat = parts
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise WebError(422, "invalid", "bbox: longitudes in [-180, 180], latitudes in "
                                       "[-90, 90], minlat <= maxlat")
    return q.BBox(min_lon, min_lat, max_lon, max_lat)


def _csv(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def _json(text: str | bytes, media_type: str = "application/json") -> Response:
    return Response(content=text, media_type=media_type, headers={"Cache-Control": "no-store"})


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000,
                             description="why: kept with the alert and in its history")


class CloseIn(NoteIn):
    outcome: Literal[OUTCOMES] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="what the officer found: false_alarm (nothing was there as the rule said: "
                    "bad data, or normal behaviour misread), confirmed (real, needed attention), "
                    "no_action (real as described, but legitimate or known). Required for desk "
                    "alerts; optional for data-quality notices (severity info).")


# ------------------------------------------------------------------------------ middleware


class SecurityHeaders:
    """Content-Security-Policy and friends on every HTTP response."""

    def __init__(self, app, csp: str):
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts send Origin: null
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _csp(tiles_url: str) -> str:
    img = "'self' data: blob:"
    if tiles_url:
        parts = urlsplit(tiles_url.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            host = parts.netloc.split("@")[-1]
            if tiles_url.split("//", 1)[-1].startswith("{s}."):
                host = "*." + host.split(".", 1)[1]
            img += f" {parts.scheme}://{host}"
    return (f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; "
            f"base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


# ------------------------------------------------------------------------------ zones


def _builtin_zones() -> dict | None:
    """The analytics package's built-in zones as GeoJSON, if it ships a loader."""
    try:
        from analytics import zones as azones  # type: ignore[attr-defined]
    except ImportError:
        return None
    for name in ("builtin_geojson", "builtin_feature_collection", "load_builtin_geojson"):
        fn = getattr(azones, name, None)
        if callable(fn):
            try:
                fc = fn()
            except Exception:  # an analytics bug must not take the map down
                log.exception("analytics built-in zones failed to load")
                return None
            if isinstance(fc, dict) and fc.get("type") == "FeatureCollection":
                return fc
    return None


# ------------------------------------------------------------------------------ the app


def create_app(settings, db_url: str, *, hub: LiveHub | None = None,
               status: Callable[[], dict] | None = None, pool_max: int = 10) -> FastAPI:
    """The web application. ``hub`` is the pipeline's live hub (a private one is made when
    None: alerts acknowledged here still reach every browser); ``status`` gives the feeds'
    state and pipeline counters for the map and ``/metrics``."""
    hub = hub if hub is not None else LiveHub()
    if hub.status is None:
        hub.status = status
    auth_cfg = AuthConfig.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(db_url, min_size=1, max_size=pool_max, open=False,
                                   configure=q.configure_connection, name="web",
                                   kwargs={"connect_timeout": 10})
        app.state.pool = pool
        tasks: list[asyncio.Task] = []
        try:
            # Open without waiting: the map comes up (and /healthz says why) even while the
            # database is still starting.
            await pool.open(wait=False)
            tasks += [asyncio.create_task(hub.run(), name="live-hub"),
                      asyncio.create_task(_housekeeping(pool, settings.demo_token),
                                          name="web-housekeeping")]
            if settings.demo_token:
                try:
                    async with pool.connection(timeout=30) as conn:
                        await _auth.ensure_demo_token(conn, settings.demo_token)
                except Exception as e:  # the app still serves password logins
                    log.error("could not install the demo token: %s", e)
        except asyncio.CancelledError:
            # Stopped while starting (SIGTERM to `mda demo` before its database answers:
            # the event loop ends and cancels us). Raising here would make Starlette report
            # a failed start-up with a traceback; instead finish the start-up and take the
            # cancellation again at the next await, the wait for shutdown, below.
            log.debug("web: stopped during start-up")
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
        try:
            yield
        except asyncio.CancelledError:
            # Cancelled instead of told to shut down (the event loop is ending): shut down
            # in order all the same, and quietly; re-raising would only print uvicorn's
            # "Exception in 'lifespan' protocol" traceback on an otherwise clean exit.
            log.debug("web: lifespan cancelled; shutting down")
        finally:
            await _shutdown(tasks, pool)

    app = FastAPI(
        title="mda", version="0.1.0", lifespan=lifespan,
        description="Maritime domain awareness for the Indian Ocean: vessels, tracks, alerts, "
                    "zones. Every call needs a login session or `Authorization: Bearer <token>`; "
                    "state changes made with a session need the `X-CSRF-Token` header.",
        docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.auth = auth_cfg
    app.state.argon2 = _auth.Argon2Gate()  # bounds concurrent password verifications
    app.state.hub = hub
    app.state.status = status
    http_counters = HttpCounters()
    app.state.http_counters = http_counters

    for exc_type in handled():
        app.add_exception_handler(exc_type, handle_error)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(_auth.router)
    app.include_router(live_router)

    viewer = require("viewer")
    officer = require("officer")
    supervisor = require("supervisor")

    # -------------------------------------------------------------------- pages
    @app.get("/", include_in_schema=False)
    async def index(request: Request, token: str | None = None, db=Depends(db_conn)) -> Response:
        if token:
            try:
                return await _auth.login_with_token(db, request, token)
            except WebError as e:
                return _auth._login_page(error="That login link is not valid (unknown, expired "
                                         "or revoked token)." if e.status == 401 else e.message,
                                         status=e.status, headers=e.headers)
        principal = await _auth.authenticate(request, db)
        return _page("map.html", principal, auth_cfg, {
            "tiles_url": settings.tiles_url or "", "user": principal.name,
            "role": principal.role, "can_acknowledge": principal.can("officer")})

    @app.get("/api/docs", include_in_schema=False)
    async def docs(principal: Principal = Depends(viewer)) -> Response:
        return _page("docs.html", principal, auth_cfg, {})

    @app.get("/api/openapi.json", include_in_schema=False)
    async def openapi(principal: Principal = Depends(viewer)) -> JSONResponse:
        return JSONResponse(app.openapi())

    # -------------------------------------------------------------------- who am I
    @app.get("/api/me", tags=["auth"], summary="The caller: name, role, CSRF token for sessions")
    async def who(principal: Principal = Depends(viewer)) -> dict:
        return _auth.me(principal, auth_cfg)

    # -------------------------------------------------------------------- vessels
    @app.get("/api/vessels", tags=["vessels"], response_class=Response,
             summary="Latest position of every vessel (GeoJSON FeatureCollection)",
             responses={200: {"content": {GEOJSON: {}}}})
    async def vessels(
        bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat",
                                 examples=["40,-10,80,25"]),
        since: str | None = Query(None, description="only vessels seen since (ISO 8601, "
                                                    "epoch seconds or relative like -1h)"),
        limit: int | None = Query(None, ge=1, le=200_000),
        principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        return _json(await q.vessels_geojson(db, bbox=parse_bbox(bbox),
                                             since=parse_time(since, "since"), limit=limit), GEOJSON)

    @app.get("/api/vessels/{mmsi}", tags=["vessels"], response_class=Response,
             summary="Static data and latest position of one vessel")
    async def vessel(mmsi: int = MMSI, principal: Principal = Depends(viewer),
                     db=Depends(db_conn)) -> Response:
        text = await q.vessel_detail(db, mmsi)
        if text is None:
            raise WebError(404, "not_found", f"no vessel {mmsi}")
        return _json(text)

    @app.get("/api/vessels/{mmsi}/track", tags=["vessels"], response_class=Response,
             summary="One vessel's track (GeoJSON LineString Feature with per-fix times, SOG, COG)",
             responses={200: {"content": {GEOJSON: {}}}})
    async def track(mmsi: int = MMSI,
                    start: str | None = Query(None, description="default: 24 h before end"),
                    end: str | None = Query(None, description="default: the vessel's last fix"),
                    principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        t_end = parse_time(end, "end")
        if t_end is None:
            cur = await db.execute("SELECT time FROM vessels WHERE mmsi = %s", (mmsi,))
            row = await cur.fetchone()
            t_end = (row[0] if row and row[0] else None) or datetime.now(timezone.utc)
        t_start = parse_time(start, "start") or t_end - timedelta(hours=24)
        if t_start > t_end:
            raise WebError(422, "invalid", "start is after end")
        if t_end - t_start > MAX_TRACK:
            raise WebError(422, "invalid", f"a track spans at most {MAX_TRACK.days} days")
        return _json(await q.vessel_track_geojson(db, mmsi, t_start, t_end), GEOJSON)

    @app.get("/api/search", tags=["vessels"], response_class=Response,
             summary="Find vessels by MMSI, IMO, name or call sign")
    async def search(q_: str = Query(..., alias="q", min_length=1, max_length=64),
                     limit: int = Query(20, ge=1, le=100),
                     principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        return _json(await q.search_vessels(db, q_, limit))

    # -------------------------------------------------------------------- alerts
    @app.get("/api/alerts", tags=["alerts"], response_class=Response,
             summary="Alerts, newest first: {alerts: [...], count}")
    async def alerts(
        status_: str | None = Query(None, alias="status",
                                    description="comma list of open, acknowledged, closed"),
        kind: str | None = Query(None, description="comma list of alert kinds"),
        severity: str | None = Query(
            None, description="comma list of critical, high, medium, low, info; default: the "
                              "desk's (all but info, the data-quality notices)"),
        since: str | None = Query(None, description="alerts going on at or after this time"),
        until: str | None = Query(None, description="alerts that started at or before this time"),
        bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
        mmsi: int | None = Query(None, ge=0, le=999_999_999, description="alerts about this vessel"),
        limit: int = Query(500, ge=1, le=5000),
        principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        statuses = _csv(status_)
        bad = [s for s in statuses if s not in ("open", "acknowledged", "closed")]
        if bad:
            raise WebError(422, "invalid", f"status: unknown {', '.join(bad)}")
        # Notices stay off the desk unless asked for: they never need an officer.
        severities = _csv(severity) or list(DESK_SEVERITIES)
        bad = [s for s in severities if s not in SEVERITIES]
        if bad:
            raise WebError(422, "invalid", f"severity: unknown {', '.join(bad)}; "
                                           f"one of {', '.join(SEVERITIES)}")
        return _json(await q.alerts_json(db, status=statuses, kind=_csv(kind), severity=severities,
                                         since=parse_time(since, "since"),
                                         until=parse_time(until, "until"),
                                         bbox=parse_bbox(bbox), mmsi=mmsi, limit=limit))

    @app.get("/api/alerts/{alert_id}", tags=["alerts"], response_class=Response,
             summary="One alert with its history")
    async def alert(alert_id: int = ALERT_ID, principal: Principal = Depends(viewer),
                    db=Depends(db_conn)) -> Response:
        text = await q.alert_detail(db, alert_id)
        if text is None:
            raise WebError(404, "not_found", f"alert {alert_id} not found")
        return _json(text)

    async def _transition(request: Request, alert_id: int, body: NoteIn | None,
                          principal: Principal, db, action: str) -> Response:
        from store import alerts as store_alerts

        note = ((body.note or "").strip() or None) if body else None
        outcome = getattr(body, "outcome", None)
        async with db.transaction():
            if action == "acknowledged":
                row = await store_alerts.acknowledge(db, alert_id, principal.name, note)
                details = {"note": note}
            else:
                row = await store_alerts.close(db, alert_id, principal.name, note, outcome)
                details = {"note": note, "outcome": outcome}
            await _auth.audit_request(db, request, principal,
                                      "alert.acknowledge" if action == "acknowledged" else "alert.close",
                                      target=f"alert:{alert_id}",
                                      details={**details, "kind": row["kind"], "mmsi": row["mmsi"]})
        text = await q.alert_detail(db, alert_id)
        payload = json.loads(text)
        await hub.publish_alert({**alert_payload(payload), "change": action})
        return _json(text)

    @app.post("/api/alerts/{alert_id}/ack", tags=["alerts"], response_class=Response,
              summary="Acknowledge an open alert (officer or higher)")
    async def ack(request: Request, alert_id: int = ALERT_ID, body: NoteIn | None = None,
                  principal: Principal = Depends(officer), db=Depends(db_conn)) -> Response:
        return await _transition(request, alert_id, body, principal, db, "acknowledged")

    @app.post("/api/alerts/{alert_id}/close", tags=["alerts"], response_class=Response,
              summary="Close an open or acknowledged alert with its outcome and a note "
                      "(officer or higher)")
    async def close(request: Request, alert_id: int = ALERT_ID, body: CloseIn | None = None,
                    principal: Principal = Depends(officer), db=Depends(db_conn)) -> Response:
        return await _transition(request, alert_id, body, principal, db, "closed")

    @app.get("/api/data-quality", tags=["alerts"], response_class=Response,
             summary="Data-quality notices (severity info) counted by source and kind, with "
                     "the latest examples")
    async def data_quality(
        since: str | None = Query(None, description="notices that started at or after this "
                                                    "time (event time); default -24h"),
        examples: int = Query(5, ge=0, le=50, description="latest notices shown per source "
                                                           "and kind"),
        principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        t = parse_time(since, "since") or datetime.now(timezone.utc) - q.NOTICE_WINDOW
        return _json(await q.data_quality_json(db, t, examples))

    # -------------------------------------------------------------------- zones
    @app.get("/api/zones", tags=["zones"], response_class=Response,
             summary="Zones and lanes (GeoJSON); the built-in set when the table is empty",
             responses={200: {"content": {GEOJSON: {}}}})
    async def zones(principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        text, n = await q.zones_geojson(db)
        if n == 0:
            fc = _builtin_zones()
            if fc is not None:
                return _json(json.dumps(fc, separators=(",", ":")), GEOJSON)
        return _json(text, GEOJSON)

    # -------------------------------------------------------------------- supervision
    @app.get("/api/audit", tags=["supervision"], response_class=Response,
             summary="The audit log, newest first (supervisor or higher)")
    async def audit_log(limit: int = Query(200, ge=1, le=5000), actor: str | None = None,
                        action: str | None = Query(None, description="prefix, e.g. alert."),
                        since: str | None = None,
                        principal: Principal = Depends(supervisor), db=Depends(db_conn)) -> Response:
        return _json(await q.audit_json(db, limit=limit, actor=actor, action=action,
                                        since=parse_time(since, "since")))

    @app.get("/api/users", tags=["supervision"], response_class=Response,
             summary="Users and their roles (supervisor or higher)")
    async def users(principal: Principal = Depends(supervisor), db=Depends(db_conn)) -> Response:
        return _json(await q.list_users(db))

    # -------------------------------------------------------------------- operations
    @app.get("/healthz", tags=["operations"], summary="Liveness and database check (no login)")
    async def healthz(request: Request) -> JSONResponse:
        try:
            async with request.app.state.pool.connection(timeout=3) as db:
                info = await q.ping(db)
        except Exception as e:  # any failure is 'unhealthy', with the reason's class
            return JSONResponse({"status": "error", "database": "unreachable",
                                 "reason": type(e).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok",
                             "schema_version": info["schema_version"],
                             "timescaledb": info["timescaledb"],
                             "live_clients": hub.client_count})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse,
             summary="Prometheus metrics (text exposition format)")
    async def metrics(principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
        st = None
        if status is not None:
            try:
                st = status()
            except Exception:
                log.exception("status callback failed")
        text = render(status=st, alerts=await q.alerts_open_by_kind(db), http=http_counters,
                      live=hub.stats, live_clients=hub.client_count,
                      notices=await q.notice_counts(db), closures=await q.closure_counts(db))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # Added last = outermost: security headers on everything; the counters see the status.
    app.add_middleware(HttpMetrics, counters=http_counters)
    app.add_middleware(SecurityHeaders, csp=_csp(settings.tiles_url or ""))
    return app


@functools.cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _page(name: str, principal: Principal, cfg: AuthConfig, config: dict[str, Any]) -> HTMLResponse:
    import html

    csrf = cfg.csrf_token(principal.session_id) if principal.session_id else ""
    text = _template(name).substitute(
        csrf=html.escape(csrf, quote=True), user=html.escape(principal.name),
        role=html.escape(principal.role),
        config=json.dumps(config).replace("<", "\\u003c").replace("&", "\\u0026"))
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})


async def _shutdown(tasks: list[asyncio.Task], pool) -> None:
    """Stop the app's tasks and close the pool; a cancellation meanwhile (a second stop)
    cuts it short without a traceback: the process is ending anyway."""
    for t in tasks:
        t.cancel()
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.warning("web: task %s had failed: %s", t.get_name(), t.exception())
        await pool.close()
    except asyncio.CancelledError:
        log.debug("web: shutdown cut short by a cancellation")


async def _housekeeping(pool, demo_token: str = "", interval: float = 3600.0) -> None:
    """Hourly: delete expired sessions; keep the demo token (which expires
    ``DEMO_TOKEN_TTL`` after it was last renewed) alive while the service runs."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with pool.connection(timeout=30) as conn:
                await q.delete_expired_sessions(conn)
                if demo_token:
                    await _auth.refresh_demo_token(conn, demo_token)
        except Exception as e:
            log.warning("session clean-up failed: %s", e)
