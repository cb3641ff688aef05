"""Security headers on every HTTP response (``HttpMetrics``, the other middleware, counts
requests in ``metrics.py``)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["SecurityHeaders", "csp"]


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
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
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
