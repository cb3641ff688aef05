"""Alerts to an MQTT broker, for other systems and partner agencies.

Topics: ``<prefix>/alerts/<kind>`` with the alert as JSON (QoS 1). The broker may go away:
alerts then wait in a bounded queue, and past that in a spool on disk, and are sent in
order when the connection returns. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from store.spool import Spool

from .errors import SettingsError
from .settings import mask_url

__all__ = ["MqttPublisher", "alert_payload"]

log = logging.getLogger(__name__)


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    raise TypeError(type(v).__name__)


def alert_payload(row: dict) -> bytes:
    return json.dumps(row, default=_json_default, sort_keys=True).encode()


class MqttPublisher:
    def __init__(self, url: str, *, spool_dir: Path | None = None, memory: int = 1000,
                 retry_initial: float = 0.5, retry_max: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise SettingsError(f"mqtt_url {mask_url(url)}: expected mqtt://[user:pass@]host[:port][/prefix]")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 1883
        self.username = parts.username
        self.password = parts.password
        self.prefix = parts.path.strip("/") or "mda"
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=memory)
        self._spool = Spool(spool_dir) if spool_dir else None
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self.sent = 0
        self.dropped = 0  # only without a spool, when memory is full
        self.connected = False

    async def publish_alert(self, row: dict) -> None:
        item = (f"{self.prefix}/alerts/{row.get('kind', 'unknown')}", alert_payload(row))
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if self._spool is not None:
                self._spool.put(item)
            else:
                self.dropped += 1
                log.warning("MQTT queue full and no spool: alert dropped")

    async def run(self) -> None:
        """Connect, send, reconnect; runs until cancelled."""
        delay = self._retry_initial
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, username=self.username,
                                          password=self.password) as client:
                    self.connected = True
                    delay = self._retry_initial
                    log.info("MQTT publisher connected to %s", mask_url(self.url))
                    async with asyncio.TaskGroup() as tg:
                        # The watcher notices a lost connection even while nothing is sent.
                        tg.create_task(self._watch(client), name="mqtt-watch")
                        tg.create_task(self._send(client), name="mqtt-send")
            except* aiomqtt.MqttError as eg:
                if self.connected:
                    log.warning("MQTT broker %s went away: %s", mask_url(self.url), eg.exceptions[0])
            self.connected = False
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self._retry_max)

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # we subscribe to nothing; this ends only in an error
            pass

    def _keep(self, item: tuple[str, bytes]) -> None:
        """An alert that was not confirmed sent: keep it for the next connection."""
        if self._spool is not None:
            self._spool.put(item)
        else:
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                self.dropped += 1

    async def _publish(self, client: aiomqtt.Client, item: tuple[str, bytes]) -> None:
        topic, payload = item
        try:
            await client.publish(topic, payload, qos=1, timeout=10)
        except BaseException:  # broker gone, timeout, or cancelled by the watcher
            self._keep(item)
            raise
        self.sent += 1

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            if self._spool is not None:
                while (pending := self._spool.oldest()) is not None:
                    path, item = pending
                    path.unlink()  # _publish puts it back if it is not confirmed
                    await self._publish(client, item)
            await self._publish(client, await self._queue.get())
