"""The pages people open: the map (and its one-click token link), the login form, logout,
and the API docs (Swagger UI served locally) with their OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from mda.analytics import KIND_TABLE

from .. import login
from ..auth import Principal, authenticate
from ..deps import db_conn, viewer
from ..render import page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index(request: Request, token: str | None = None) -> Response:
    """The map; ``/?token=T`` answers a form that posts the token to ``/login/token``
    (a GET changes nothing: ``login.py``)."""
    if token:
        return login.token_link_page(request, token)
    async with request.app.state.pool.connection(timeout=10) as db:
        principal = await authenticate(request, db)
    return _map(request, principal)


def _map(request: Request, principal: Principal) -> Response:
    settings = request.app.state.settings
    return page(
        "map.html",
        principal,
        request.app.state.auth,
        {
            "tiles_url": settings.tiles_url or "",
            "user": principal.name,
            "role": principal.role,
            "can_acknowledge": principal.can("officer"),
            # The one table of alert kinds: the desk's labels come from here.
            "kinds": [
                {"kind": k.kind, "label": k.label, "severity": k.severity} for k in KIND_TABLE
            ],
        },
    )


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    return login.login_page(next_=login.safe_next(next), secure=request.url.scheme == "https")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    return await login.password_login(request)


@router.post("/login/token")
async def login_token(request: Request) -> Response:
    """The one-click link's form: a valid token becomes a session (rate-limited)."""
    return await login.token_login(request)


@router.post("/logout")
async def logout(request: Request, db=Depends(db_conn)) -> Response:
    return await login.logout(request, db)


@router.get("/api/docs")
async def docs(request: Request, principal: Principal = Depends(viewer)) -> Response:
    return page("docs.html", principal, request.app.state.auth, {})


@router.get("/api/openapi.json")
async def openapi(request: Request, principal: Principal = Depends(viewer)) -> JSONResponse:
    return JSONResponse(request.app.openapi())
