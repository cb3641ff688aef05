"""The web's one error type, and the one place that turns errors into responses.

Routes raise ``WebError`` (or let a ``StoreError`` through); ``handle_error`` turns it into
JSON for API clients and into an HTML page, or a redirect to the login page, for people.
FastAPI's own validation errors, Starlette's 404/405, the pool's time-outs and the
store's errors (alerts, accounts) are all translated here, so every failure has the same
shape:
``{"error": {"status": 404, "code": "not_found", "message": "..."}}``.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

__all__ = ["WebError", "handle_error", "handled", "loggable_path", "translate", "wants_html"]

log = logging.getLogger(__name__)


class WebError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a message."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def translate(exc: Exception) -> WebError:
    """Any exception as a WebError (unexpected ones are logged, and become a 500)."""
    if isinstance(exc, WebError):
        return exc
    if isinstance(exc, RequestValidationError):
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(
                str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path")
            )
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return WebError(422, "invalid", "; ".join(parts) or "invalid request")
    if isinstance(exc, StarletteHTTPException):
        return WebError(
            exc.status_code,
            _CODES.get(exc.status_code, "error"),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )
    from psycopg_pool import PoolTimeout

    from mda.store.accounts import AccountError, DuplicateUser, UnknownUser
    from mda.store.alerts import AlertNotFound, InvalidOutcome, InvalidTransition
    from mda.store.desk import Invalid as DeskInvalid
    from mda.store.desk import NotFound as DeskNotFound
    from mda.store.errors import DatabaseUnavailable, StoreError

    if isinstance(exc, DuplicateUser):
        return WebError(409, "conflict", str(exc))
    if isinstance(exc, UnknownUser):
        return WebError(404, "not_found", str(exc))
    if isinstance(exc, AccountError):  # a bad name, role, password or demo token
        return WebError(400, "bad_request", str(exc))
    if isinstance(exc, AlertNotFound):
        return WebError(404, "not_found", str(exc))
    if isinstance(exc, InvalidOutcome):
        return WebError(422, "invalid", str(exc))
    if isinstance(exc, InvalidTransition):
        return WebError(409, "conflict", str(exc))
    if isinstance(exc, DeskNotFound):
        return WebError(404, "not_found", str(exc))
    if isinstance(exc, DeskInvalid):
        return WebError(422, "invalid", str(exc))
    if isinstance(exc, (PoolTimeout, DatabaseUnavailable)):
        return WebError(
            503,
            "unavailable",
            "the database is not reachable; try again shortly",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, StoreError):
        return WebError(500, "store_error", str(exc))
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        return WebError(
            503,
            "unavailable",
            "the database is not reachable; try again shortly",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, psycopg.DataError):
        # A value the request gave that the database cannot take (a NUL byte in a text
        # parameter, a number beyond its column's type): the client's error, not ours.
        return WebError(
            422, "invalid", "a value in the request cannot be used (NUL or out of range)"
        )
    log.exception("unhandled error", exc_info=exc)
    return WebError(500, "internal", "internal error (logged on the server)")


def wants_html(request: Request) -> bool:
    """A person's page (not the API, not a static asset, not a script asking for JSON)."""
    path = request.url.path
    if path == "/api/docs":
        return True
    if path.startswith(("/api/", "/static/")) or path in ("/api", "/metrics", "/healthz"):
        return False
    return "application/json" not in request.headers.get("accept", "")


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{status} · mda</title><link rel="stylesheet" href="/static/login.css"></head>
<body class="page"><main class="card"><h1>{status}</h1><p>{message}</p>
<p><a href="/">Back to the map</a></p></main></body></html>"""


# Paths that carry a secret: a receiver's token in ``POST /api/ingest/{token}`` (for
# senders that cannot set a header). Logged with the secret replaced.
_SECRET_PATHS = ("/api/ingest/",)


def loggable_path(path: str) -> str:
    """``path`` as it may be written to a log: a token in it replaced by ``<token>``."""
    for prefix in _SECRET_PATHS:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "<token>"
    return path


async def handle_error(request: Request, exc: Exception) -> Response:
    err = translate(exc)
    if err.status >= 500:
        log.warning(
            "%s %s -> %d %s",
            request.method,
            loggable_path(request.url.path),
            err.status,
            err.message,
        )
    if wants_html(request):
        if err.status == 401 and request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        return HTMLResponse(
            _PAGE.format(status=err.status, message=html.escape(err.message)),
            status_code=err.status,
            headers=err.headers,
        )
    return JSONResponse(
        {"error": {"status": err.status, "code": err.code, "message": err.message}},
        status_code=err.status,
        headers=err.headers,
    )


def handled() -> tuple[type[BaseException], ...]:
    """The exception types create_app registers ``handle_error`` for. ``Exception`` comes
    last: Starlette answers it with the 500 page and still re-raises it for the server's
    log, which is what a bug should do."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from mda.store.errors import StoreError

    return (
        WebError,
        RequestValidationError,
        StarletteHTTPException,
        StoreError,
        PoolTimeout,
        psycopg.Error,
        Exception,
    )
