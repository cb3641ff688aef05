"""Security headers on every HTTP response, and request bodies bounded before they are read
(``HttpMetrics``, the other middleware, counts requests in ``metrics.py``)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from .errors import WebError

__all__ = ["SecurityHeaders", "BodyLimit", "csp"]


class SecurityHeaders:
    """Content-Security-Policy and friends on every HTTP response."""

    def __init__(self, app, csp: str):
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (
                b"referrer-policy",
                b"same-origin",
            ),  # no-referrer would make form posts send Origin: null
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                given = {name.lower() for name, _ in headers}
                # A response that sets one of them itself (a stricter referrer policy) wins.
                message["headers"] = headers + [h for h in self.headers if h[0] not in given]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def csp(tiles_url: str) -> str:
    """The policy: everything from this server, no inline script; images also from the
    online tile server's host when ``tiles_url`` is set."""
    img = "'self' data: blob:"
    if tiles_url:
        parts = urlsplit(tiles_url.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            host = parts.netloc.split("@")[-1]
            if tiles_url.split("//", 1)[-1].startswith("{s}."):
                host = "*." + host.split(".", 1)[1]
            img += f" {parts.scheme}://{host}"
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class BodyLimit:
    """Request bodies bounded before they are read, and timed while they are read.

    - A ``Content-Length`` over ``max_bytes`` is answered 413 at once, unread; so is one
      over ``anonymous_max_bytes`` from a client that sends no credentials (no
      ``Authorization`` header, no session cookie): before authentication.
    - A client that does send credentials and a body bigger than ``anonymous_max_bytes``
      (or one of unknown length) is authenticated before anything is read: 401 unread.
    - A body without a length is counted as it arrives and refused (413) past its limit.
    - A pause of more than ``timeout_s`` while a body is being sent is answered 408.

    Refusals carry ``Connection: close``: the rest of such a body is never read."""

    def __init__(
        self,
        app,
        *,
        max_bytes: int,
        anonymous_max_bytes: int,
        timeout_s: float,
        stats: dict | None = None,
        path_limits: dict[str, int] | None = None,
    ):
        self.app = app
        self.max_bytes = max_bytes
        # Routes that take bigger bodies from a logged-in client (an extract's ZIP).
        self.path_limits = dict(path_limits or {})
        self.anonymous_max_bytes = min(anonymous_max_bytes, max_bytes)
        self.timeout_s = timeout_s
        self.stats = stats if stats is not None else {}
        self.stats.setdefault("bodies_too_large", 0)
        self.stats.setdefault("bodies_too_slow", 0)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length: int | None = None
        chunked = credentials = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return await _refuse(send, 400, "bad_request", "bad Content-Length")
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"authorization" or (name == b"cookie" and b"mda_session=" in value):
                credentials = True
        if length is None and not chunked:
            return await self.app(scope, receive, send)  # no body
        limit = (
            self.path_limits.get(scope.get("path", ""), self.max_bytes)
            if credentials
            else self.anonymous_max_bytes
        )
        if length is not None and length > limit:
            self.stats["bodies_too_large"] += 1
            return await _refuse(send, 413, "too_large", _too_large(limit))
        if credentials and (length is None or length > self.anonymous_max_bytes):
            refused = await _check_credentials(scope)
            if refused is not None:
                return await _refuse(send, *refused)

        received = 0
        more = True
        stats = self.stats

        async def limited_receive():
            nonlocal received, more
            if not more:
                return await receive()  # the body is read: waiting for a disconnect
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                stats["bodies_too_slow"] += 1
                raise WebError(
                    408,
                    "timeout",
                    f"the request body paused for more than {self.timeout_s:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more = message.get("more_body", False)
                if received > limit:
                    stats["bodies_too_large"] += 1
                    raise WebError(
                        413, "too_large", _too_large(limit), headers={"Connection": "close"}
                    )
            return message

        await self.app(scope, limited_receive, send)


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes"


async def _check_credentials(scope) -> tuple[int, str, str] | None:
    """(status, code, message) when the request's credentials do not authenticate anyone;
    None when they do (or cannot be checked here: the route decides)."""
    from starlette.requests import HTTPConnection

    from .auth import authenticate
    from .errors import translate

    app = scope.get("app")
    pool = getattr(getattr(app, "state", None), "pool", None)
    if pool is None:
        return None
    try:
        async with pool.connection(timeout=10) as db:
            await authenticate(HTTPConnection(scope), db, method=scope["method"])
    except Exception as exc:
        e = translate(exc)
        return e.status, e.code, e.message
    return None


async def _refuse(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
