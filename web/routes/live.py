"""``WS /api/live``: the live hub's socket, behind the same login as the API.

A session cookie must come from this origin (cross-site WebSocket hijacking); a refusal
is a denial response with the API's error shape where the server supports it, else a
close with code 4000 + status. The hub's caps (sockets in total and per user or token)
are checked before the socket is accepted: 503 or 429. While the socket is open the hub
re-checks its login.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.responses import JSONResponse

from ..auth import authenticate, same_origin
from ..errors import WebError, translate

__all__ = ["router"]

router = APIRouter()


@router.websocket("/api/live")
async def live(websocket: WebSocket) -> None:
    """Live updates: positions (coalesced per vessel, at most 1/s), alerts, feed status.
    Needs a session cookie (same origin) or a bearer token."""
    app = websocket.app
    hub = app.state.hub
    reserved = None
    try:
        async with app.state.pool.connection(timeout=10) as db:
            principal = await authenticate(websocket, db, method="GET")
        if principal.via == "session" and not same_origin(websocket):
            raise WebError(403, "csrf", "cross-origin WebSocket refused")
        refused = hub.reserve(principal.name)
        if refused is not None:
            raise WebError(refused[0], "too_many", refused[1], headers={"Retry-After": "10"})
        reserved = principal.name
    except Exception as exc:  # refused (401/403/429/503) or the database is away (503)
        e = translate(exc)
        body = {"error": {"status": e.status, "code": e.code, "message": e.message}}
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(JSONResponse(body, status_code=e.status))
        else:
            await websocket.close(code=4000 + e.status, reason=e.message[:100])
        return
    try:
        await websocket.accept()
        await _serve(websocket, app, principal)
    finally:
        hub.release(reserved)


async def _serve(websocket: WebSocket, app, principal) -> None:

    async def still_valid() -> bool:
        """The same credentials (cookie or bearer token) still authenticate someone who may
        watch the live feed."""
        try:
            async with app.state.pool.connection(timeout=10) as db:
                now = await authenticate(websocket, db, method="GET")
        except WebError as e:
            if e.status in (401, 403):
                return False
            raise
        return now.can("viewer")

    await app.state.hub.serve(
        websocket, {"user": principal.name, "role": principal.role}, still_valid, principal.name
    )
