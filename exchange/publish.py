"""Alerts to an MQTT broker, for other systems and partner agencies.

Topics: ``<prefix>/alerts/<kind>`` (QoS 1) with each alert change as the signed CloudEvent
our ``mda/v1`` feeds and the live WebSocket carry (``exchange.feeds.alert_cloudevent``,
signed by the installation's key, published as ``feeds.event_payload``: the one wire format
of an alert; docs/partners.md, docs/asyncapi.yaml): the alert's fields are the event's
``data.properties`` and its position the ``data.geometry``. An alert raised while the
database was away goes out at once with a provisional negative ``id`` and again, with its
real id, once stored. The prefix is the URL's path, by default ``mda/internal``, which the
example broker ACL lets operators' tools read.
Data-quality notices (severity ``info``) are not alerts for a partner's desk: they are not
published unless ``notices`` is set (setting ``mqtt_notices``), and then on their own topics,
``<prefix>/notices/<kind>``, so subscribers to the alert topics never receive them.
The broker may go away: alerts then wait in memory, and past that in a spool on disk, and
are sent in order when the connection returns. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mda.ingest.backoff import Backoff
from mda.store.alerts import NOTICE, AlertMessage, alert_message
from mda.store.spool import Spool, SpoolFull

from .errors import ExchangeError

__all__ = ["MqttPublisher", "BrokerUrlError", "mqtt_payload"]

log = logging.getLogger(__name__)


class BrokerUrlError(ExchangeError):
    """The broker URL is not ``mqtt://[user:pass@]host[:port][/prefix]``: a settings
    mistake, which the shell reports naming the setting."""


def mqtt_payload(message: AlertMessage, source: str, key: Ed25519PrivateKey) -> bytes:
    """What ``<prefix>/alerts/<kind>`` carries for one alert change: its CloudEvent
    (``feeds.alert_cloudevent``, the one function that builds it), signed with ``key``,
    as ``feeds.event_payload`` writes it."""
    from .feeds import alert_cloudevent, event_payload  # feeds builds on this module

    return event_payload(alert_cloudevent(message, source, key=key))


def _masked(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class MqttPublisher:
    """Publishes alert rows in the order they were raised, whatever the broker does.

    One ordered buffer: up to ``memory`` alerts in memory, the rest in a spool on disk; once
    anything is in the spool, newer alerts go there too, so the order holds.

    ``source`` and ``signing_key`` are the installation's (``feeds.installation_source``,
    ``signing.load_or_create_key``; ``service.mqtt_publisher`` passes them): every alert
    is published as its signed CloudEvent, so ``publish_alert`` needs the key. A publisher
    that only carries other messages (``publish_message``: the roles' records) needs
    neither."""

    def __init__(
        self,
        url: str,
        *,
        spool_dir: Path | None = None,
        memory: int = 1000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        notices: bool = False,
        source: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise BrokerUrlError(
                f"{_masked(url)}: expected mqtt://[user:pass@]host[:port][/prefix]"
            )
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 1883
        self.username = parts.username
        self.password = parts.password
        self.prefix = parts.path.strip("/") or "mda/internal"  # deploy/mosquitto/mda.acl
        self._memory: deque[tuple[str, bytes]] = deque()
        self._memory_max = memory
        self._spool = Spool(spool_dir) if spool_dir else None
        self._spooled = len(self._spool) if self._spool else 0  # left by an earlier run too
        self._wake = asyncio.Event()
        self._backoff = Backoff(retry_initial, retry_max)
        self.sent = 0
        self.dropped = 0  # only without room: no spool, or a full disk
        self.notices = notices
        self.notices_skipped = 0  # notices not published (the default)
        self.connected = False
        self.source = source
        self.signing_key = signing_key
        self._client: aiomqtt.Client | None = None  # while connected

    async def publish_alert(self, row: Mapping[str, Any]) -> None:
        """Queue an alert row (with ``change``) for the broker as its signed CloudEvent, in
        order."""
        if self.signing_key is None:
            raise ExchangeError("MQTT publisher: alerts need the installation's signing key")
        message = alert_message(row)
        if message.severity == NOTICE:
            if not self.notices:
                self.notices_skipped += 1
                return
            topic = f"{self.prefix}/notices/{message.kind or 'unknown'}"
        else:
            topic = f"{self.prefix}/alerts/{message.kind or 'unknown'}"
        if self.source is None:
            from .feeds import installation_source

            self.source = installation_source(None)
        self._enqueue((topic, mqtt_payload(message, self.source, self.signing_key)))

    async def publish_message(self, subtopic: str, payload: bytes) -> None:
        """Queue another message on
        ``<prefix>/<subtopic>``, in order with the alerts, spooled like them."""
        self._enqueue((f"{self.prefix}/{subtopic}", payload))

    async def publish_now(self, subtopic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Send a message on ``<prefix>/<subtopic>`` at once, past the queue (QoS 1), if
        connected: for what is worth nothing later (a status). False if not sent."""
        client = self._client
        if client is None or not self.connected:
            return False
        try:
            await client.publish(
                f"{self.prefix}/{subtopic}", payload, qos=1, retain=retain, timeout=10
            )
        except aiomqtt.MqttError:
            return False  # the connection's loss is run()'s business
        return True

    @property
    def waiting(self) -> int:
        """Messages not yet taken by the broker: in memory and in the spool."""
        return len(self._memory) + self._spooled

    def _enqueue(self, item: tuple[str, bytes]) -> None:
        if not self._spooled and len(self._memory) < self._memory_max:
            self._memory.append(item)
        elif self._spool is not None:
            try:
                self._spool.put(item)
                self._spooled += 1
            except SpoolFull as e:
                self.dropped += 1
                log.error("MQTT alert dropped: %s", e)
        else:
            self.dropped += 1
            log.warning("MQTT buffer full and no spool: alert dropped")
        self._wake.set()

    async def close(self, timeout: float = 3.0) -> None:
        """At a stop: give the broker a moment for what is waiting, then keep the rest in
        the spool, in order, for the next start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Polling with a deadline: the sender task empties the queue; no event marks "empty".
        while self.waiting and self.connected and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self._memory and self._spool is not None:
            for item in reversed(self._memory):  # newest first, so the oldest ends up first
                try:
                    self._spool.put_front(item)
                except SpoolFull as e:
                    self.dropped += 1
                    log.error("MQTT alert dropped at stop: %s", e)
            self._spooled += len(self._memory)
            self._memory.clear()

    async def run(self) -> None:
        """Connect, send, reconnect; runs until cancelled."""
        backoff = self._backoff
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, username=self.username, password=self.password
                ) as client:
                    await self._on_connect(client)
                    self._client = client
                    self.connected = True
                    backoff.reset()
                    log.info("MQTT publisher connected to %s", _masked(self.url))
                    async with asyncio.TaskGroup() as tg:
                        # The watcher notices a lost connection even while nothing is sent.
                        tg.create_task(self._watch(client), name="mqtt-watch")
                        tg.create_task(self._send(client), name="mqtt-send")
            except* aiomqtt.MqttError as eg:
                if self.connected:
                    log.warning("MQTT broker %s went away: %s", _masked(self.url), eg.exceptions[0])
            finally:
                self._client = None
                self.connected = False
            await asyncio.sleep(backoff.next_delay())

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        """Once connected, before anything is sent (a subclass subscribes here)."""

    def _on_message(self, message: aiomqtt.Message) -> None:
        """A message on what ``_on_connect`` subscribed to."""

    async def _watch(self, client: aiomqtt.Client) -> None:
        # Also notices a lost connection while nothing is sent: ends only in an error.
        async for message in client.messages:
            self._on_message(message)

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            if self._memory:  # the oldest alerts
                item = self._memory[0]
                await client.publish(*item, qos=1, timeout=10)
                self._memory.popleft()  # only once the broker has it
                self.sent += 1
            elif self._spooled and self._spool is not None:
                pending = self._spool.oldest()
                if pending is None:
                    self._spooled = 0
                    continue
                path, item = pending
                await client.publish(*item, qos=1, timeout=10)
                self._spool.done(path)
                self._spooled -= 1
                self.sent += 1
            else:
                self._wake.clear()
                await self._wake.wait()
