"""Operations and supervision: health, Prometheus metrics, who am I, the audit log and
the users."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from mda.store import accounts, audit, queries

from ..auth import Principal
from ..deps import db_conn, supervisor, viewer
from ..metrics import CONTENT_TYPE, DeskCounts, MdaCollector, exposition
from ..params import json_response, parse_time

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter()


def _status(request: Request) -> dict:
    """The service's status() now ({} without one, or when it fails)."""
    status = request.app.state.status
    if status is None:
        return {}
    try:
        return status() or {}
    except Exception:  # the health check still answers without the pipeline's state
        log.exception("status callback failed")
        return {}


@router.get("/healthz", tags=["operations"], summary="Liveness and database check (no login)")
async def healthz(request: Request) -> JSONResponse:
    """``ok``; ``degraded`` (still 200) while a stage waits to be started again after a
    failure (``stages`` says which); 503 when the database does not answer. ``role`` is
    the process's role (``ingest``, ``core``, ``web``, or ``all`` in one process) and
    ``leader`` whether it leads (a standby core says false)."""
    st = _status(request)
    stages = {
        name: s.get("state", "unknown") for name, s in sorted((st.get("stages") or {}).items())
    }
    who = {"role": st.get("role", "all"), "leader": bool(st.get("leader", True))}
    try:
        async with request.app.state.pool.connection(timeout=3) as db:
            info = await queries.ping(db)
    except Exception as e:  # any failure is 'unhealthy', with the reason's class
        return JSONResponse(
            {
                "status": "error",
                **who,
                "database": "unreachable",
                "reason": type(e).__name__,
                "stages": stages,
            },
            status_code=503,
        )
    failing = [name for name, state in stages.items() if state == "restarting"]
    return JSONResponse(
        {
            "status": "degraded" if failing else "ok",
            **who,
            "database": "ok",
            "schema_version": info["schema_version"],
            "timescaledb": info["timescaledb"],
            "live_clients": request.app.state.hub.client_count,
            "stages": stages,
            "failing": failing,
        }
    )


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=PlainTextResponse,
    summary="Prometheus metrics (text exposition format)",
)
async def metrics(
    request: Request, principal: Principal = Depends(viewer), db=Depends(db_conn)
) -> Response:
    """Built per scrape (web/metrics.py): the service's status() read now, the desk's
    figures from the database, the service's histograms."""
    state = request.app.state
    desk = DeskCounts(
        alerts=await queries.alerts_open_by_kind(db),
        notices=await queries.notice_counts(db),
        closures=await queries.closure_counts(db),
    )

    def limits() -> dict[str, int]:
        out = dict(state.http_limits)
        guard = getattr(state, "connection_guard", None)
        if guard is not None:
            out.update(guard.stats)
        return out

    collector = MdaCollector(
        state.status,
        http=state.http_counters,
        live=lambda: state.hub.stats,
        live_clients=lambda: state.hub.client_count,
        limits=limits,
        desk=desk,
        version=state.version,
        on_error=lambda e: log.error("status callback failed: %s", e, exc_info=e),
    )
    return Response(exposition(collector, state.telemetry), media_type=CONTENT_TYPE)


@router.get("/api/me", tags=["auth"], summary="The caller: name, role, CSRF token for sessions")
async def me(request: Request, principal: Principal = Depends(viewer)) -> dict:
    out: dict[str, Any] = {
        "name": principal.name,
        "role": principal.role,
        "via": principal.via,
        "can_acknowledge": principal.can("officer"),
    }
    if principal.session_id:
        out["csrf_token"] = request.app.state.auth.csrf_token(principal.session_id)
    return out


@router.get(
    "/api/audit",
    tags=["supervision"],
    response_class=Response,
    summary="The audit log, newest first (supervisor or higher)",
)
async def audit_log(
    limit: int = Query(200, ge=1, le=5000),
    actor: str | None = None,
    action: str | None = Query(None, description="prefix, e.g. alert."),
    since: str | None = None,
    principal: Principal = Depends(supervisor),
    db=Depends(db_conn),
) -> Response:
    return json_response(
        await audit.entries_json(
            db, limit=limit, actor=actor, action=action, since=parse_time(since, "since")
        )
    )


@router.get(
    "/api/users",
    tags=["supervision"],
    response_class=Response,
    summary="Users and their roles (supervisor or higher)",
)
async def users(principal: Principal = Depends(supervisor), db=Depends(db_conn)) -> Response:
    return json_response(await accounts.users_json(db))
