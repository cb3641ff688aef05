"""The live hub: latest vessel positions, alerts and feed status pushed to every browser.

``LiveHub`` is a pipeline ``BatchListener``: ``on_batch`` only records the newest fix per
MMSI (O(batch), no I/O). Once a second the hub's task turns the vessels that moved into
frames (at most ``FRAME_MAX_BYTES`` each), serialised and encoded once and shared by every
client, so a vessel is pushed at most once a second however often it reports.
``publish_alert`` pushes an alert row (from the analytics or from an officer's
acknowledgement) to everyone at once. Vessels not heard for ``vessel_ttl_s`` are
forgotten, and at most ``max_vessels`` are remembered: the hub's memory is bounded by the
traffic heard lately, not by every MMSI ever seen.

Limits no client can get round: at most ``max_clients`` sockets, ``max_per_principal`` per
user or token (``reserve``: more are refused before the socket is accepted). Each browser
has its own backlog of shared frames, bounded in bytes (``backlog_bytes``), and its own
sender task: a slow browser drops its oldest position frames (and is told to ``resync``
from ``/api/vessels``), never an alert, and never slows another browser. A browser whose
waiting alerts alone pass the bound, or that takes longer than ``send_timeout_s`` to take
one frame, is disconnected (1013) and counted (``clients_too_slow``); it reconnects and
reloads. So the hub holds at most ``backlog_bytes`` of distinct frames per client, and
the server one frame in flight per socket.

The login behind each socket is checked again every ``auth_recheck_s`` seconds (30 by
default): once the session has ended (logout, user disabled, token revoked or expired)
the socket is closed with code 4401.

Messages (JSON text frames), all with ``type``:

- ``hello``: ``user``, ``role``, ``fields`` (the order of a position array), ``feeds``,
  ``lag_s``
- ``positions``: ``t`` (server time), ``vessels``: ``[[mmsi, lat, lon, sog, cog, heading,
  nav_status, ts], ...]``, ``statics``: ``{mmsi: {name, callsign, ship_type}}`` for
  vessels whose static data changed (one flush may send several such frames)
- ``alert``: ``change`` (opened, updated, ended, reopened, acknowledged, closed),
  ``event``: the alert change as the CloudEvent our MQTT feeds publish
  (``exchange.feeds.alert_cloudevent``, the one wire format of an alert, signed by the
  installation's key; docs/asyncapi.yaml), and ``desk``: what the desk keeps beside it
  (``key``, ``details``, ``created_at``, ``updated_at``, ``acknowledged_by/at``,
  ``closed_by/at``, ``note``, ``outcome``, and ``stored``: false, with a provisional
  negative id, for an alert raised while the database was away, until it is stored).
  ``alert_of_frame`` (and the map's ``live.js``) puts the two together into the fields of
  ``GET /api/alerts``.
- ``status``: ``feeds`` (per feed: name, state, last_message_age_s, ...), ``lag_s`` (how
  far behind its feeds the service is, seconds; null without a pipeline), ``t``
- ``resync``: positions were dropped for this client; reload ``/api/vessels``

The socket's route (``WS /api/live``, with its login checks) is ``routes/live.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from mda.exchange.feeds import alert_cloudevent, installation_source
from mda.store.alerts import AlertMessage, alert_message

__all__ = [
    "LiveHub",
    "POSITION_FIELDS",
    "CLOSE_UNAUTHENTICATED",
    "FRAME_MAX_BYTES",
    "alert_frame",
    "alert_of_frame",
]

log = logging.getLogger(__name__)

POSITION_FIELDS = ("mmsi", "lat", "lon", "sog", "cog", "heading", "nav_status", "ts")


CLOSE_UNAUTHENTICATED = 4401  # the login behind the socket is no longer valid
CLOSE_TOO_SLOW = 1013  # try again later
FRAME_MAX_BYTES = 256 * 1024  # a position frame at most (about 4,000 vessels)
_VESSEL_BYTES = 64  # about, in a position frame
_PRUNE_EVERY_S = 60.0


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


class _Frame(str):
    """A text frame, serialised and encoded once and shared by every client: the server's
    WebSocket takes ``encode()`` of what it sends, which here is the shared bytes."""

    data: bytes

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:  # type: ignore[override]
        return self.data

    @property
    def size(self) -> int:
        return len(self.data)


def _frame(obj: Any) -> _Frame:
    f = _Frame(_dumps(obj))  # ASCII (ensure_ascii): its UTF-8 is its bytes
    f.data = str.encode(f)
    return f


_RESYNC = _frame({"type": "resync"})

# The alert's fields its CloudEvent carries (data.properties, and lat/lon as its geometry);
# the frame's ``desk`` has the others.
_EVENT_FIELDS = frozenset(
    ("id", "kind", "severity", "status", "mmsi", "other_mmsi", "start", "end")
    + ("lat", "lon", "zone", "vessel_name")
)


def alert_frame(message: AlertMessage, source: str, key=None) -> dict:
    """The ``alert`` frame of one alert change: its CloudEvent (signed with ``key``) and
    the desk's own fields."""
    desk = {k: v for k, v in message.to_dict().items() if k not in _EVENT_FIELDS}
    event = alert_cloudevent(message, source, key=key)
    return {"type": "alert", "change": message.change, "event": event, "desk": desk}


def _plus(t: str | None) -> str | None:
    return t[:-1] + "+00:00" if isinstance(t, str) and t.endswith("Z") else t


def alert_of_frame(frame: Mapping[str, Any]) -> dict:
    """The alert of an ``alert`` frame with the fields of ``GET /api/alerts`` (times in
    UTC ending ``+00:00``), as the map's ``live.js`` makes it."""
    data = frame["event"]["data"]
    p, g = data["properties"], data.get("geometry")
    return {
        **frame["desk"],
        **{k: p.get(k) for k in ("id", "kind", "severity", "status", "mmsi", "other_mmsi")},
        "start": _plus(p.get("start")),
        "end": _plus(p.get("end")),
        "lat": g["coordinates"][1] if g else None,
        "lon": g["coordinates"][0] if g else None,
        "zone": p.get("zone"),
        "vessel_name": p.get("vessel_name"),
    }


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


class _Client:
    """One browser: a backlog of shared frames bounded in bytes, and a task that sends them."""

    def __init__(
        self,
        ws: WebSocket,
        backlog_bytes: int,
        send_timeout: float | None = None,
        principal: str = "",
    ):
        self.ws = ws
        self.principal = principal
        self.backlog_bytes = backlog_bytes
        self.send_timeout = send_timeout
        self.positions: deque[_Frame] = deque()
        self.alerts: deque[_Frame] = deque()
        self.positions_bytes = 0
        self.alerts_bytes = 0
        self.status: str | None = None
        self.wake = asyncio.Event()
        self.resync = False
        self.dropped = 0
        self.too_slow = False
        self.task: asyncio.Task | None = None

    @property
    def queued_bytes(self) -> int:
        return self.positions_bytes + self.alerts_bytes

    def _trim(self) -> None:
        while self.positions and self.queued_bytes > self.backlog_bytes:
            self.positions_bytes -= self.positions.popleft().size
            self.dropped += 1
            self.resync = True  # the oldest frames fall off: this client must reload

    def push_positions(self, frame: _Frame) -> None:
        self.positions.append(frame)
        self.positions_bytes += frame.size
        self._trim()
        self.wake.set()

    def push_alert(self, frame: _Frame) -> None:
        if self.alerts_bytes + frame.size > self.backlog_bytes:
            # Stuck for good (alerts are never dropped): end this client; it reconnects.
            self._give_up()
            return
        self.alerts.append(frame)
        self.alerts_bytes += frame.size
        self._trim()
        self.wake.set()

    def push_status(self, frame: str) -> None:
        self.status = frame  # only the newest status matters
        self.wake.set()

    def _give_up(self) -> None:
        self.too_slow = True
        if self.task is not None:
            self.task.cancel()

    async def _send(self, frame: str) -> None:
        if self.send_timeout is None:
            await self.ws.send_text(frame)
            return
        try:
            await asyncio.wait_for(self.ws.send_text(frame), self.send_timeout)
        except TimeoutError:
            self.too_slow = True
            raise

    async def send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.alerts or self.status or self.positions or self.resync:
                # Alerts first, always; then the newest status; then positions.
                while self.alerts:
                    frame = self.alerts[0]
                    await self._send(frame)
                    self.alerts.popleft()
                    self.alerts_bytes -= frame.size
                if self.status is not None:
                    frame, self.status = self.status, None
                    await self._send(frame)
                if self.resync:
                    self.resync = False
                    self.positions.clear()
                    self.positions_bytes = 0
                    await self._send(_RESYNC)
                elif self.positions:
                    frame = self.positions.popleft()
                    self.positions_bytes -= frame.size
                    await self._send(frame)


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
        backlog_bytes: int = 4 * 1024 * 1024,
        send_timeout_s: float | None = 30.0,
        max_clients: int = 200,
        max_per_principal: int = 8,
        vessel_ttl_s: float = 6 * 3600.0,
        max_vessels: int = 300_000,
        auth_recheck_s: float = 30.0,
        auth_unverified_max: int = 3,
        source: str | None = None,
        signing_key=None,
    ):
        self.status = status
        # the alert frames' CloudEvents: their source, and the key that signs them
        self.source = source or installation_source(None)
        self.signing_key = signing_key
        self.auth_recheck_s = auth_recheck_s
        # consecutive re-checks that could not reach a verdict (database away) before the
        # socket is closed anyway (1013: try again later)
        self.auth_unverified_max = auth_unverified_max
        self.interval = interval
        self.status_interval = status_interval
        self.backlog_bytes = backlog_bytes
        self.send_timeout_s = send_timeout_s
        self.max_clients = max_clients
        self.max_per_principal = max_per_principal
        self.vessel_ttl_s = vessel_ttl_s
        self.max_vessels = max_vessels
        self._latest: dict[int, Any] = {}  # mmsi -> newest PositionReport
        self._seen: OrderedDict[int, float] = OrderedDict()  # mmsi -> last heard, oldest first
        self._dirty: set[int] = set()
        self._statics: dict[int, dict] = {}
        self._dirty_statics: set[int] = set()
        self._clients: set[_Client] = set()
        self._reserved: dict[str, int] = {}  # sockets per principal, open or opening
        self._next_prune = 0.0
        self.stats = {
            "batches": 0,
            "positions_in": 0,
            "frames": 0,
            "vessels_pushed": 0,
            "vessels_forgotten": 0,
            "alerts_pushed": 0,
            "clients_dropped_frames": 0,
            "clients_too_slow": 0,
            "clients_logged_out": 0,
            "clients_refused": 0,
        }

    @classmethod
    def from_settings(cls, settings, **kw) -> LiveHub:
        """A hub with the limits of the settings (``WebConfig``'s ``live_*``), signing its
        alert events as the installation (``use_installation``)."""
        hub = cls(
            backlog_bytes=settings.live_client_backlog_bytes,
            send_timeout_s=settings.live_send_timeout_s,
            max_clients=settings.live_max_clients,
            max_per_principal=settings.live_max_clients_per_user,
            vessel_ttl_s=settings.live_vessel_ttl_s,
            max_vessels=settings.live_max_vessels,
            **kw,
        )
        hub.use_installation(settings)
        return hub

    def use_installation(self, settings) -> None:
        """Sign the alert frames' CloudEvents with the installation's key (made in
        ``data_path`` on first use) under its ``source`` (the ``organisation`` setting), as
        the MQTT feeds do."""
        from mda.exchange.signing import load_or_create_key

        self.source = installation_source(getattr(settings, "organisation", None))
        self.signing_key = load_or_create_key(settings.data_path)

    @property
    def vessel_count(self) -> int:
        return len(self._seen)

    # -- pipeline side (sync, cheap) ---------------------------------------------------
    def on_batch(self, positions: Sequence[Any], statics: Sequence[Any]) -> None:
        latest, dirty, seen = self._latest, self._dirty, self._seen
        now = time.monotonic()
        for p in positions:
            m = p.mmsi
            cur = latest.get(m)
            if cur is None or p.ts >= cur.ts:
                latest[m] = p
                dirty.add(m)
            seen[m] = now
            seen.move_to_end(m)
        for s in statics:
            if s.mmsi not in seen:  # static data alone does not make a vessel to remember
                continue
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
        frame = _frame(alert_frame(alert_message(row), self.source, self.signing_key))
        for c in list(self._clients):
            c.push_alert(frame)
        self.stats["alerts_pushed"] += 1

    def prune(self, now: float | None = None) -> int:
        """Forget the vessels not heard for ``vessel_ttl_s``, and the longest unheard past
        ``max_vessels``; how many."""
        now = time.monotonic() if now is None else now
        seen, gone = self._seen, 0
        limit = now - self.vessel_ttl_s
        while seen:
            m, t = next(iter(seen.items()))
            if t >= limit and len(seen) <= self.max_vessels:
                break
            seen.popitem(last=False)
            self._latest.pop(m, None)
            self._statics.pop(m, None)
            self._dirty.discard(m)
            self._dirty_statics.discard(m)
            gone += 1
        self.stats["vessels_forgotten"] += gone
        return gone

    # -- the hub's task ----------------------------------------------------------------
    def flush(self) -> int:
        """Turn what moved since the last flush into one frame for every client."""
        if not self._dirty and not self._dirty_statics:
            return 0
        dirty, self._dirty = self._dirty, set()
        dstat, self._dirty_statics = self._dirty_statics, set()
        if not self._clients:
            # Nobody to send to: a frame built now would reach no one, and a map that opens
            # later loads the whole picture first (/api/vessels). Building them anyway cost
            # a seventh of the service's CPU under a full feed (docs/benchmarks.md).
            return 0
        latest = self._latest
        vessels = []
        for m in dirty:
            p = latest.get(m)
            if p is None:
                continue
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
        statics = {str(m): self._statics[m] for m in dstat if m in self._statics}
        if not vessels and not statics:  # only vessels forgotten meanwhile
            return 0
        t = round(time.time(), 3)
        per_frame = max(1, FRAME_MAX_BYTES // _VESSEL_BYTES)
        for i in range(0, max(len(vessels), 1), per_frame):
            frame = _frame(
                {
                    "type": "positions",
                    "t": t,
                    "vessels": vessels[i : i + per_frame],
                    "statics": statics if i == 0 else {},
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

    def _status(self) -> dict:
        if self.status is None:
            return {}
        try:
            return self.status() or {}
        except Exception:  # a status callback must never take the hub down
            log.exception("status callback failed")
            return {}

    def feeds(self) -> list[dict]:
        return list(self._status().get("feeds", []))

    def feed_state(self) -> dict:
        """``feeds`` and ``lag_s``: how far behind its feeds the service is (the slowest
        stage's ``Pipeline.lag()`` seconds; null without a pipeline)."""
        st = self._status()
        lag = st.get("lag") or {}
        seconds = [v.get("seconds") or 0.0 for v in lag.values() if isinstance(v, dict)]
        return {"feeds": list(st.get("feeds", [])), "lag_s": max(seconds) if seconds else None}

    def push_status(self) -> None:
        frame = _dumps({"type": "status", "t": round(time.time(), 3), **self.feed_state()})
        for c in list(self._clients):
            c.push_status(frame)

    async def run(self) -> None:
        """Flush once per ``interval`` and push status every ``status_interval``; runs until
        cancelled (``create_app``'s lifespan owns it)."""
        next_status = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= self._next_prune:
                    self._next_prune = loop.time() + _PRUNE_EVERY_S
                    self.prune()
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

    def reserve(self, principal: str) -> tuple[int, str] | None:
        """Count one more socket for ``principal`` before it is accepted; None when it may
        come in (``release`` it afterwards), else (HTTP status, why)."""
        total = sum(self._reserved.values())
        if total >= self.max_clients:
            self.stats["clients_refused"] += 1
            return 503, "too many live connections; try again later"
        if self._reserved.get(principal, 0) >= self.max_per_principal:
            self.stats["clients_refused"] += 1
            return 429, f"at most {self.max_per_principal} live connections per user"
        self._reserved[principal] = self._reserved.get(principal, 0) + 1
        return None

    def release(self, principal: str) -> None:
        n = self._reserved.get(principal, 0) - 1
        if n > 0:
            self._reserved[principal] = n
        else:
            self._reserved.pop(principal, None)

    async def serve(
        self,
        ws: WebSocket,
        hello: dict,
        still_valid: Callable[[], Awaitable[bool]] | None = None,
        principal: str = "",
    ) -> None:
        """Run one accepted WebSocket until it closes. ``still_valid`` re-checks the login
        behind it every ``auth_recheck_s``: False closes the socket with 4401; an exception
        (the database is away) is tolerated ``auth_unverified_max`` times in a row."""
        client = _Client(ws, self.backlog_bytes, self.send_timeout_s, principal)
        self._clients.add(client)
        close: tuple[int, str] | None = None
        try:
            await asyncio.wait_for(
                ws.send_text(
                    _dumps(
                        {"type": "hello", "fields": POSITION_FIELDS, **self.feed_state(), **hello}
                    )
                ),
                self.send_timeout_s,
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
                close = (CLOSE_TOO_SLOW, "too slow; reconnect")
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
