"""Alerts to an MQTT broker, for other systems and partner agencies.

Topics: ``<prefix>/alerts/<kind>`` with the alert as JSON (QoS 1): the payload is
``store.alerts.AlertMessage.to_event(zulu=True)``, the fields the live WebSocket sends and
``change``, times in UTC ending ``Z``. The prefix is the URL's path, by default
``mda/internal``, which the example broker ACL lets operators' tools read.
Data-quality notices (severity ``info``) are not alerts for a partner's desk: they are not
published unless ``notices`` is set (setting ``mqtt_notices``), and then on their own topics,
``<prefix>/notices/<kind>``, so subscribers to the alert topics never receive them.
The broker may go away: alerts then wait in memory, and past that in a spool on disk, and
are sent in order when the connection returns. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiomqtt

from mda.ingest.backoff import Backoff
from mda.store.alerts import NOTICE, AlertMessage, alert_message
from mda.store.spool import Spool, SpoolFull

from .errors import ExchangeError

__all__ = ["MqttPublisher", "BrokerUrlError", "mqtt_payload"]

log = logging.getLogger(__name__)


class BrokerUrlError(ExchangeError):
    """The broker URL is not ``mqtt://[user:pass@]host[:port][/prefix]``: a settings
    mistake, which the shell reports naming the setting."""


def mqtt_payload(message: AlertMessage) -> bytes:
    """The JSON a partner receives for one alert."""
    return json.dumps(message.to_event(zulu=True), sort_keys=True).encode()


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
    anything is in the spool, newer alerts go there too, so the order holds."""

    def __init__(
        self,
        url: str,
        *,
        spool_dir: Path | None = None,
        memory: int = 1000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        notices: bool = False,
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

    async def publish_alert(self, row: Mapping[str, Any]) -> None:
        """Queue a stored alert row (with ``change``) for the broker, in order."""
        message = alert_message(row)
        if message.severity == NOTICE:
            if not self.notices:
                self.notices_skipped += 1
                return
            topic = f"{self.prefix}/notices/{message.kind or 'unknown'}"
        else:
            topic = f"{self.prefix}/alerts/{message.kind or 'unknown'}"
        self._enqueue((topic, mqtt_payload(message)))

    async def publish_message(self, subtopic: str, payload: bytes) -> None:
        """Queue another message (a hazard as CAP: ``hazards/<id>``) on
        ``<prefix>/<subtopic>``, in order with the alerts, spooled like them."""
        self._enqueue((f"{self.prefix}/{subtopic}", payload))

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
        # Polling with a deadline: the sender task empties the memory; no event marks "empty".
        while self._memory and self.connected and loop.time() < deadline:  # noqa: ASYNC110
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
            self.connected = False
            await asyncio.sleep(backoff.next_delay())

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # we subscribe to nothing; this ends only in an error
            pass

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
