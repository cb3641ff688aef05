"""The HTTP server: uvicorn with limits no stranger can exhaust, behind a reverse proxy or not.

``server_config(app, settings)`` is the ``uvicorn.Config`` the service runs:

- **Connections**: at most ``http_max_connections`` open at once (kept below the process's
  file limit), and ``http_max_connections_per_ip`` from one client address (trusted
  proxies excepted: every client behind them shares their address). One more is answered
  ``503`` and closed at once, before anything is read; the refusals are counted, not
  logged one by one.
- **Timeouts**: a client has ``http_header_timeout_s`` to send a request's headers after it
  connects or starts its next request (slow-loris), headers at most 16 KiB; an idle
  keep-alive connection is closed after ``http_keepalive_timeout_s``. Bodies are limited
  and timed by ``middleware.BodyLimit``.
- **Proxies**: ``X-Forwarded-For``/``-Proto`` are believed only from ``trusted_proxies``
  (empty by default: the client address is the connection's).
- **WebSockets**: frames from browsers at most 64 KiB, no per-message compression (each
  socket would compress every frame again, with a compressor of its own). A socket the
  app has let go of (closed, or dropped as too slow) or that missed its keep-alive pong
  is aborted ``WS_LINGER_S`` later if its peer still has not taken what was sent: a
  client that stops reading cannot keep a connection and its buffer for ever.

``GuardStats`` (``app.state.connection_guard``) has the counters for ``/metrics``.
"""

from __future__ import annotations

import ipaddress
import logging
import resource

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["server_config", "ConnectionGuard", "trusted_networks", "raise_file_limit"]

log = logging.getLogger(__name__)

HEADER_LIMIT = 16 * 1024  # bytes of request line and headers
WS_MAX_MESSAGE = 64 * 1024  # browsers send pings only
WS_LINGER_S = 5.0  # a closed socket whose peer does not read is aborted after this
FILES_RESERVE = 128  # file descriptors kept for the database, feeds, spool and logs
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 5\r\nconnection: close\r\ncontent-length: 38\r\n\r\n"
    b"too many connections; try again later\n"
)


def trusted_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``trusted_proxies`` as networks; a value that is not an address is a ValueError."""
    out = []
    for item in (x.strip() for x in text.split(",")):
        if item:
            out.append(ipaddress.ip_network(item, strict=False))
    return out


def raise_file_limit() -> int:
    """Raise the soft limit of open files to the hard limit (a coast guard's 1,024 default
    is the first thing a crowd of connections exhausts); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


class ConnectionGuard:
    """Counts the open connections of one server, in total and per client address, and
    says whether one more may come in."""

    def __init__(self, max_total: int, max_per_ip: int, trusted: list | None = None):
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        room = soft - FILES_RESERVE if soft != resource.RLIM_INFINITY else max_total
        self.max_total = max(1, min(max_total, room))
        self.max_per_ip = max(1, max_per_ip)
        self.trusted = trusted or []
        self.total = 0
        self.per_ip: dict[str, int] = {}
        self.stats = {
            "connections_refused": 0,  # over a cap: 503 and closed
            "header_timeouts": 0,  # closed for sending their headers too slowly
            "connections_total": 0,
            "accept_out_of_files": 0,  # accept() failed for want of a file descriptor
        }

    def _is_trusted(self, host: str) -> bool:
        if not self.trusted:
            return False
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def admit(self, host: str) -> bool:
        if self.total >= self.max_total:
            self.stats["connections_refused"] += 1
            return False
        if self.per_ip.get(host, 0) >= self.max_per_ip and not self._is_trusted(host):
            self.stats["connections_refused"] += 1
            return False
        self.total += 1
        self.per_ip[host] = self.per_ip.get(host, 0) + 1
        self.stats["connections_total"] += 1
        return True

    def release(self, host: str) -> None:
        self.total -= 1
        n = self.per_ip.get(host, 0) - 1
        if n > 0:
            self.per_ip[host] = n
        else:
            self.per_ip.pop(host, None)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the connection caps and the header timeout.
    ``guard`` and ``header_timeout`` are set on a subclass made for each server."""

    guard: ConnectionGuard
    header_timeout: float

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = None
        self._guarded: str | None = None
        host = self.client[0] if self.client else ""
        if not self.guard.admit(host):
            transport.write(_REFUSED)
            transport.close()
            return
        self._guarded = host
        self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        self._release()
        super().connection_lost(exc)

    def _release(self) -> None:
        if self._guarded is not None:
            self.guard.release(self._guarded)
            self._guarded = None

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def data_received(self, data: bytes) -> None:
        if self._guarded is None:  # refused: whatever it sends is ignored
            return
        if self._waiting_for_head():
            self._arm()  # the next request's headers are on their way: they have a deadline
        super().data_received(data)
        if self._head_timer is not None and not self._waiting_for_head():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle now: uvicorn's keep-alive timeout applies until the next byte arrives.

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.guard.stats["header_timeouts"] += 1
            self.transport.close()

    def handle_websocket_upgrade(self, event) -> None:
        self._disarm()
        host, self._guarded = self._guarded, None
        super().handle_websocket_upgrade(event)
        ws = self.transport.get_protocol()
        if host is None or ws is self:
            return
        # The WebSocket protocol owns the connection now; it gives the slot back.
        guard = self.guard
        if isinstance(ws, GuardedWSProtocol):
            ws.on_lost = lambda: guard.release(host)
        else:  # another WebSocket implementation: still give the slot back
            lost = ws.connection_lost

            def connection_lost(exc, _lost=lost) -> None:
                guard.release(host)
                _lost(exc)

            ws.connection_lost = connection_lost


class GuardedWSProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, aborting a connection whose peer does not take what it
    was sent once the app has let go of it or a keep-alive ping went unanswered (a plain
    close waits for the peer to read the buffer first: for ever, if it never does)."""

    on_lost = None  # set by the HTTP protocol that handed the connection over

    def connection_lost(self, exc) -> None:
        release, self.on_lost = self.on_lost, None
        if release is not None:
            release()
        super().connection_lost(exc)

    async def run_asgi(self) -> None:
        await super().run_asgi()
        self._abort_later()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._abort_later()

    def _abort_later(self) -> None:
        if not self.disconnected:
            self.loop.call_later(WS_LINGER_S, self._abort)

    def _abort(self) -> None:
        if not self.disconnected:
            self.transport.abort()


_ACCEPT_EXHAUSTED = "socket.accept() out of system resource"


def quiet_accept_exhaustion(loop, guard: ConnectionGuard, every_s: float = 10.0) -> None:
    """When the process is out of file descriptors, asyncio logs a traceback for every
    failed ``accept()`` (hundreds in one connection storm) and stops accepting for a second,
    which is the right thing to do. This keeps the pause and drops the flood: each failure
    is counted (``/metrics``: ``mda_http_accept_out_of_files_total``) and one line without
    a traceback is logged at most every ``every_s`` seconds. Other errors go on as before."""
    import time

    previous = loop.get_exception_handler()
    last = [float("-inf")]

    def handler(loop, context) -> None:
        if not str(context.get("message", "")).startswith(_ACCEPT_EXHAUSTED):
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        guard.stats["accept_out_of_files"] += 1
        n = guard.stats["accept_out_of_files"]
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            exc = context.get("exception")
            log.warning(
                "out of file descriptors (%s): new connections wait; %d refused so far",
                getattr(exc, "strerror", None) or exc,
                n,
            )

    loop.set_exception_handler(handler)


def server_config(app, settings, *, log_level: str = "warning"):
    """The ``uvicorn.Config`` for ``app`` with the settings' limits (see the module's
    docstring); ``app.state.connection_guard`` gets the guard, for ``/metrics``."""
    import uvicorn

    trusted = trusted_networks(settings.trusted_proxies)
    guard = ConnectionGuard(
        settings.http_max_connections, settings.http_max_connections_per_ip, trusted
    )
    protocol = type(
        "MdaH11Protocol",
        (GuardedH11Protocol,),
        {"guard": guard, "header_timeout": float(settings.http_header_timeout_s)},
    )
    try:
        app.state.connection_guard = guard
    except AttributeError:  # not a Starlette app (tests may serve a bare ASGI callable)
        pass
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=log_level,
        lifespan="on",
        http=protocol,
        ws=GuardedWSProtocol,
        ws_max_size=WS_MAX_MESSAGE,
        ws_max_queue=8,
        ws_per_message_deflate=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=[str(n) for n in trusted] or "",
        timeout_keep_alive=settings.http_keepalive_timeout_s,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=HEADER_LIMIT,
        limit_concurrency=None,
        server_header=False,
        access_log=False,
    )
