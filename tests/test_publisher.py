"""Alerts to MQTT on a real Mosquitto: topics and payloads (the signed CloudEvent of the feeds
and the WebSocket), and nothing lost in an outage."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import free_port

from mda.exchange.errors import ExchangeError
from mda.exchange.feeds import alert_cloudevent, canonical_event, event_payload
from mda.exchange.publish import MqttPublisher
from mda.exchange.signing import fingerprint
from mda.store.alerts import alert_message

KEY = Ed25519PrivateKey.generate()
SOURCE = "urn:mda:test"
SIGNING = {"source": SOURCE, "signing_key": KEY}


def _row(i: int, kind: str = "loitering") -> dict:
    return {
        "id": i,
        "kind": kind,
        "severity": "medium",
        "status": "open",
        "mmsi": 419000000 + i,
        "start": datetime(2026, 11, 28, 3, i, tzinfo=UTC),
        "end": None,
        "details": {"text": f"alert {i}"},
        "change": "opened",
    }


def _props(event: dict) -> dict:
    """The alert's fields in its CloudEvent."""
    return event["data"]["properties"]


async def _collect(client: aiomqtt.Client, n: int, timeout: float = 15.0, raw=None) -> list:
    got = []

    async def take():
        async for m in client.messages:
            got.append((str(m.topic), json.loads(m.payload)))
            if raw is not None:
                raw.append(bytes(m.payload))
            if len(got) == n:
                return

    await asyncio.wait_for(take(), timeout)
    return got


async def test_alerts_reach_subscribers_on_their_kind_topic(mqtt_broker, mqtt_topic, tmp_path):
    pub = MqttPublisher(f"{mqtt_broker.url}/{mqtt_topic}", spool_dir=tmp_path / "spool", **SIGNING)
    rows = [_row(1, "encounter"), _row(2, "distress_beacon")]
    raw: list[bytes] = []
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
        await sub.subscribe(f"{mqtt_topic}/alerts/#", qos=1)
        runner = asyncio.create_task(pub.run())
        try:
            for row in rows:
                await pub.publish_alert(row)
            got = await _collect(sub, 2, raw=raw)
        finally:
            runner.cancel()
    assert [t for t, _ in got] == [
        f"{mqtt_topic}/alerts/encounter",
        f"{mqtt_topic}/alerts/distress_beacon",
    ]
    # The one wire format: the signed CloudEvent the mda/v1 feeds and the WebSocket carry,
    # byte for byte as the feeds publish it.
    for (_, event), payload, row in zip(got, raw, rows, strict=True):
        expected = alert_cloudevent(alert_message(row), SOURCE, key=KEY)
        assert event == expected and payload == event_payload(expected)
    first, second = got[0][1], got[1][1]
    assert first["type"] == "org.mda.alert.encounter.v1" and first["source"] == SOURCE
    assert first["subject"] == "mmsi:419000001" and _props(first)["mmsi"] == 419000001
    assert _props(first)["start"] == "2026-11-28T03:01:00Z"
    assert _props(first)["change"] == "opened" and _props(first)["severity"] == "medium"
    assert _props(second)["text"] == "alert 2"
    # signed by the installation's key, as a partner checks it
    assert first["mdakeyid"] == fingerprint(KEY)
    for _, event in got:
        KEY.public_key().verify(base64.b64decode(event["mdasig"]), canonical_event(event))
    assert first["id"] != second["id"]


async def test_an_alert_is_not_published_unsigned(tmp_path):
    pub = MqttPublisher("mqtt://127.0.0.1:1/x", spool_dir=tmp_path / "spool")
    with pytest.raises(ExchangeError, match="signing key"):
        await pub.publish_alert(_row(1))
    assert pub.waiting == 0


class _Broker:
    """A Mosquitto of this test's own, with persistence, that can be stopped and restarted."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.dir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            # As root, Mosquitto drops to its own user, which could not write in tmp_path.
            f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {workdir}/\nlog_dest file {workdir}/log\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["/usr/sbin/mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not start on {self.port}")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)


async def test_alerts_raised_while_the_broker_is_down_arrive_after_it_returns(
    tmp_path, mqtt_broker
):
    broker = _Broker(tmp_path)
    broker.start()
    try:
        # A partner's subscriber with a persistent session: the broker queues for it.
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, identifier="partner-in", clean_session=False
        ) as sub:
            await sub.subscribe("mda/internal/alerts/#", qos=1)
        pub = MqttPublisher(
            f"mqtt://127.0.0.1:{broker.port}",
            spool_dir=tmp_path / "spool",
            memory=2,
            retry_initial=0.1,
            retry_max=0.5,
            **SIGNING,
        )
        runner = asyncio.create_task(pub.run())
        for _ in range(100):
            if pub.connected:
                break
            await asyncio.sleep(0.05)
        assert pub.connected
        broker.stop()
        for i in range(1, 6):  # more than the in-memory queue holds: the rest spools
            await pub.publish_alert(_row(i))
        await asyncio.sleep(0.5)
        assert not pub.connected
        assert any((tmp_path / "spool").glob("*.spool"))
        broker.start()
        for _ in range(200):
            if pub.sent >= 5:
                break
            await asyncio.sleep(0.05)
        runner.cancel()
        assert pub.sent == 5 and pub.dropped == 0
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, identifier="partner-in", clean_session=False
        ) as sub:
            got = await _collect(sub, 5)
        assert [_props(p)["id"] for _, p in got] == [1, 2, 3, 4, 5]  # in the order raised
    finally:
        if broker.proc and broker.proc.poll() is None:
            broker.stop()


def test_bad_mqtt_url_is_named(tmp_path):
    """The publisher refuses the URL; the shell, which wires it, names the setting."""
    from mda.errors import SettingsError
    from mda.service import mqtt_publisher
    from mda.settings import load_settings

    settings = load_settings(environ={"MDA_MQTT_URL": "http://x", "MDA_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="mqtt_url http://x: expected mqtt://"):
        mqtt_publisher(settings)


async def test_alerts_waiting_at_a_stop_are_sent_by_the_next_run(tmp_path, mqtt_broker, mqtt_topic):
    """Broker unreachable, service stops: what waited in memory is spooled in order, and the
    next run (with the broker back) sends it, oldest first."""
    dead = f"mqtt://127.0.0.1:{free_port()}/{mqtt_topic}"
    pub = MqttPublisher(
        dead,
        spool_dir=tmp_path / "spool",
        memory=10,
        retry_initial=0.05,
        retry_max=0.1,
        **SIGNING,
    )
    runner = asyncio.create_task(pub.run())
    for i in range(1, 4):
        await pub.publish_alert(_row(i))
    await pub.close(timeout=0.2)
    runner.cancel()
    assert len(list((tmp_path / "spool").glob("*.spool"))) == 3
    live = MqttPublisher(f"{mqtt_broker.url}/{mqtt_topic}", spool_dir=tmp_path / "spool", **SIGNING)
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sub:
        await sub.subscribe(f"{mqtt_topic}/alerts/#", qos=1)
        runner = asyncio.create_task(live.run())
        await live.publish_alert(_row(4))
        got = await _collect(sub, 4)
        runner.cancel()
    assert [_props(p)["id"] for _, p in got] == [1, 2, 3, 4]
