"""The live hub: latest vessel positions, alerts and feed status pushed to every browser.

``LiveHub`` is a pipeline ``BatchListener``: ``on_batch`` only records the newest fix per
MMSI (O(batch), no I/O). Once a second the hub's task turns the vessels that moved into
one frame, serialised once and shared by every client, so a vessel is pushed at most
once a second however often it reports. ``publish_alert`` pushes an alert row (from the
analytics or from an officer's acknowledgement) to everyone at once.

Each browser has its own bounded backlog and its own sender task: a slow browser drops
its oldest position frames (and is told to ``resync`` from ``/api/vessels``), never an
alert, and never slows another browser. A browser so slow that alerts pile up past
``max_alert_backlog`` is disconnected; it reconnects and reloads.

The login behind each socket is checked again every ``auth_recheck_s`` seconds (30 by
default): once the session has ended (logout, user disabled, token revoked or expired)
the socket is closed with code 4401.

Messages (JSON text frames), all with ``type``:

- ``hello``: ``user``, ``role``, ``fields`` (the order of a position array), ``feeds``
- ``positions``: ``t`` (server time), ``vessels``: ``[[mmsi, lat, lon, sog, cog, heading,
  nav_status, ts], ...]``, ``statics``: ``{mmsi: {name, callsign, ship_type}}`` for
  vessels whose static data changed
- ``alert``: ``change`` (opened, updated, ended, reopened, acknowledged, closed), ``alert``
  (``store.alerts.AlertMessage.to_dict()``: the same fields as ``GET /api/alerts``)
- ``status``: ``feeds`` (per feed: name, state, last_message_age_s, ...), ``t``
- ``resync``: positions were dropped for this client; reload ``/api/vessels``

The socket's route (``WS /api/live``, with its login checks) is ``routes/live.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from mda.store.alerts import alert_message

__all__ = ["LiveHub", "POSITION_FIELDS", "CLOSE_UNAUTHENTICATED"]

log = logging.getLogger(__name__)

POSITION_FIELDS = ("mmsi", "lat", "lon", "sog", "cog", "heading", "nav_status", "ts")


CLOSE_UNAUTHENTICATED = 4401  # the login behind the socket is no longer valid


def _default(v: Any) -> Any:
    if isinstance(v, datetime):
        # Always UTC, whatever time zone the connection that read it ran in.
        return (v.astimezone(UTC) if v.tzinfo is not None else v).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, separators=(",", ":"), allow_nan=False)


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


class _Client:
    """One browser: a bounded backlog of shared frames and a task that sends them."""

    def __init__(self, ws: WebSocket, backlog: int, max_alerts: int):
        self.ws = ws
        self.positions: deque[str] = deque(maxlen=backlog)
        self.alerts: deque[str] = deque()
        self.status: str | None = None
        self.max_alerts = max_alerts
        self.wake = asyncio.Event()
        self.resync = False
        self.dropped = 0
        self.too_slow = False
        self.task: asyncio.Task | None = None

    def push_positions(self, frame: str) -> None:
        if len(self.positions) == self.positions.maxlen:
            self.dropped += 1
            self.resync = True  # the oldest frame falls off: this client must reload
        self.positions.append(frame)
        self.wake.set()

    def push_alert(self, frame: str) -> None:
        if len(self.alerts) >= self.max_alerts:
            # Stuck for good (alerts are never dropped): end this client; it reconnects.
            self.too_slow = True
            if self.task is not None:
                self.task.cancel()
            return
        self.alerts.append(frame)
        self.wake.set()

    def push_status(self, frame: str) -> None:
        self.status = frame  # only the newest status matters
        self.wake.set()

    async def send_loop(self) -> None:
        ws = self.ws
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.alerts or self.status or self.positions or self.resync:
                # Alerts first, always; then the newest status; then positions.
                while self.alerts:
                    await ws.send_text(self.alerts.popleft())
                if self.status is not None:
                    frame, self.status = self.status, None
                    await ws.send_text(frame)
                if self.resync:
                    self.resync = False
                    self.positions.clear()
                    await ws.send_text('{"type":"resync"}')
                elif self.positions:
                    await ws.send_text(self.positions.popleft())


class LiveHub:
    """Collects what the pipeline decodes and what the alert stage decides; pushes it.

    ``status`` is a callable returning ``{"feeds": [FeedStatus.as_dict(), ...], ...}``;
    ``create_app`` sets it from its own ``status`` argument when the hub has none.
    """

    def __init__(
        self,
        *,
        status: Callable[[], dict] | None = None,
        interval: float = 1.0,
        status_interval: float = 2.0,
        backlog: int = 8,
        max_alert_backlog: int = 2000,
        auth_recheck_s: float = 30.0,
        auth_unverified_max: int = 3,
    ):
        self.status = status
        self.auth_recheck_s = auth_recheck_s
        # consecutive re-checks that could not reach a verdict (database away) before the
        # socket is closed anyway (1013: try again later)
        self.auth_unverified_max = auth_unverified_max
        self.interval = interval
        self.status_interval = status_interval
        self.backlog = backlog
        self.max_alert_backlog = max_alert_backlog
        self._latest: dict[int, Any] = {}  # mmsi -> newest PositionReport
        self._dirty: set[int] = set()
        self._statics: dict[int, dict] = {}
        self._dirty_statics: set[int] = set()
        self._clients: set[_Client] = set()
        self.stats = {
            "batches": 0,
            "positions_in": 0,
            "frames": 0,
            "vessels_pushed": 0,
            "alerts_pushed": 0,
            "clients_dropped_frames": 0,
            "clients_too_slow": 0,
            "clients_logged_out": 0,
        }

    # -- pipeline side (sync, cheap) ---------------------------------------------------
    def on_batch(self, positions: Sequence[Any], statics: Sequence[Any]) -> None:
        latest, dirty = self._latest, self._dirty
        for p in positions:
            cur = latest.get(p.mmsi)
            if cur is None or p.ts >= cur.ts:
                latest[p.mmsi] = p
                dirty.add(p.mmsi)
        for s in statics:
            known = self._statics.setdefault(s.mmsi, {})
            for f in ("name", "callsign", "ship_type"):
                v = getattr(s, f, None)
                if v is not None and known.get(f) != v:
                    known[f] = v
                    self._dirty_statics.add(s.mmsi)
        self.stats["batches"] += 1
        self.stats["positions_in"] += len(positions)

    async def publish_alert(self, row: Mapping[str, Any]) -> None:
        """Push a new or changed alert (a row with the alerts table's columns and
        ``change``) to every browser. Never dropped for a slow browser."""
        message = alert_message(row)
        frame = _dumps({"type": "alert", "change": message.change, "alert": message.to_dict()})
        for c in list(self._clients):
            c.push_alert(frame)
        self.stats["alerts_pushed"] += 1

    # -- the hub's task ----------------------------------------------------------------
    def flush(self) -> int:
        """Turn what moved since the last flush into one frame for every client."""
        if not self._dirty and not self._dirty_statics:
            return 0
        dirty, self._dirty = self._dirty, set()
        dstat, self._dirty_statics = self._dirty_statics, set()
        latest = self._latest
        vessels = []
        for m in dirty:
            p = latest[m]
            vessels.append(
                [
                    m,
                    _r(p.lat, 5),
                    _r(p.lon, 5),
                    _r(p.sog, 1),
                    _r(p.cog, 1),
                    p.heading,
                    p.nav_status,
                    _r(p.ts, 3),
                ]
            )
        statics = {str(m): self._statics[m] for m in dstat}
        frame = _dumps(
            {
                "type": "positions",
                "t": round(time.time(), 3),
                "vessels": vessels,
                "statics": statics,
            }
        )
        for c in list(self._clients):
            before = c.dropped
            c.push_positions(frame)
            if c.dropped != before:
                self.stats["clients_dropped_frames"] += 1
        self.stats["frames"] += 1
        self.stats["vessels_pushed"] += len(vessels)
        return len(vessels)

    def feeds(self) -> list[dict]:
        if self.status is None:
            return []
        try:
            return list(self.status().get("feeds", []))
        except Exception:  # a status callback must never take the hub down
            log.exception("status callback failed")
            return []

    def push_status(self) -> None:
        frame = _dumps({"type": "status", "t": round(time.time(), 3), "feeds": self.feeds()})
        for c in list(self._clients):
            c.push_status(frame)

    async def run(self) -> None:
        """Flush once per ``interval`` and push status every ``status_interval``; runs until
        cancelled (``create_app``'s lifespan owns it)."""
        next_status = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                self.flush()
                if loop.time() >= next_status and self._clients:
                    self.push_status()
                    next_status = loop.time() + self.status_interval
            except Exception:  # keep pushing whatever went wrong once
                log.exception("live hub flush failed")
            await asyncio.sleep(self.interval)

    # -- clients -------------------------------------------------------------------------
    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def serve(
        self, ws: WebSocket, hello: dict, still_valid: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """Run one accepted WebSocket until it closes. ``still_valid`` re-checks the login
        behind it every ``auth_recheck_s``: False closes the socket with 4401; an exception
        (the database is away) is tolerated ``auth_unverified_max`` times in a row."""
        client = _Client(ws, self.backlog, self.max_alert_backlog)
        self._clients.add(client)
        close: tuple[int, str] | None = None
        try:
            await ws.send_text(
                _dumps({"type": "hello", "fields": POSITION_FIELDS, "feeds": self.feeds(), **hello})
            )
            sender = client.task = asyncio.create_task(client.send_loop(), name="live-send")
            receiver = asyncio.create_task(self._receive(ws), name="live-receive")
            tasks = {sender, receiver}
            watcher = None
            if still_valid is not None:
                watcher = asyncio.create_task(self._watch(still_valid), name="live-auth")
                tasks.add(watcher)
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            for t in done:
                exc = None if t.cancelled() else t.exception()
                if exc and not isinstance(exc, (WebSocketDisconnect, RuntimeError, OSError)):
                    log.warning("live client ended: %r", exc)
            if (
                watcher is not None
                and watcher in done
                and not watcher.cancelled()
                and watcher.exception() is None
            ):
                close = watcher.result()
                if close[0] == CLOSE_UNAUTHENTICATED:
                    self.stats["clients_logged_out"] += 1
            elif client.too_slow:
                self.stats["clients_too_slow"] += 1
                close = (1013, "too slow; reconnect")
            if close is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(code=close[0], reason=close[1]), 5)
        finally:
            self._clients.discard(client)

    async def _watch(self, still_valid: Callable[[], Awaitable[bool]]) -> tuple[int, str]:
        """Returns (close code, reason) once the login behind the socket is gone."""
        unverified = 0
        while True:
            await asyncio.sleep(self.auth_recheck_s)
            try:
                ok = await still_valid()
            except Exception as e:  # no verdict: the database is unreachable
                unverified += 1
                log.warning("live: could not re-check a login (%d in a row): %s", unverified, e)
                if unverified >= self.auth_unverified_max:
                    return 1013, "cannot verify the login; reconnect"
                continue
            unverified = 0
            if not ok:
                return CLOSE_UNAUTHENTICATED, "the session has ended; log in again"

    @staticmethod
    async def _receive(ws: WebSocket) -> None:
        """Browsers send only pings; reading also notices the close."""
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") == "ping":
                await ws.send_text('{"type":"pong"}')
