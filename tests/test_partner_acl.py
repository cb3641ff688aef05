"""``mda partner acl`` run for real (issue 12, broker accounts): a Mosquitto started with
the generated ACL lets a partner's account read its own feed (its alerts and the hazards
shared with it) and the status topic, and nothing else (another partner's feed, our own
alert and hazard feeds), publish nothing, and gives a disabled
partner nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import aiomqtt
import pytest

from mda.cli import main

pytestmark = pytest.mark.integration

ACCOUNTS = {
    "mda": "svc-pw",
    "partner-srilanka": "lk-pw",
    "partner-maldives": "mv-pw",
    "partner-kenya": "ke-pw",
}


@pytest.fixture
def acl_broker(migrated, mosquitto_factory, capsys):
    for args in (("srilanka", "LK"), ("maldives", "MV"), ("kenya", "KE")):
        assert main(["partner", "--database", migrated, "add", args[0], "--country", args[1]]) == 0
    assert main(["partner", "--database", migrated, "disable", "kenya"]) == 0
    capsys.readouterr()
    root = Path(tempfile.mkdtemp(prefix="mda-mosquitto-acl-"))
    acl, passwd = root / "mda.acl", root / "mda.passwd"
    assert main(["partner", "--database", migrated, "acl", "-o", str(acl)]) == 0
    assert "2 partner accounts" in capsys.readouterr().out
    text = acl.read_text()
    assert "user partner-srilanka" in text and "user partner-kenya" not in text
    # the service's account reads the partners' feeds bridged in under partners/<partner>/
    # (deploy/mosquitto/partner-bridge.conf.template), or --partner-feed gets nothing there
    service_block = text.split("user mda\n", 1)[1].split("\n\n", 1)[0]
    assert "topic read partners/#" in service_block.splitlines()
    for i, (user, password) in enumerate(ACCOUNTS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True)
    if os.geteuid() == 0:  # as root, the broker drops to the mosquitto user
        for path in (root, acl, passwd):
            shutil.chown(path, "mosquitto", "mosquitto")
    config = (
        "per_listener_settings false\nlistener @PORT@ 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwd}\nacl_file {acl}\npersistence false\nlog_dest stderr\n"
    )
    try:
        broker = mosquitto_factory(config, root)
        yield broker.port
        broker.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _client(port: int, user: str) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", port, username=user, password=ACCOUNTS[user])


async def _read_until(client: aiomqtt.Client, sentinel: str) -> list[str]:
    topics = []
    async with asyncio.timeout(5):
        async for message in client.messages:
            topics.append(str(message.topic))
            if str(message.topic) == sentinel:
                return topics
    return topics


SUBSCRIPTIONS = (
    "mda/v1/partners/srilanka/#",
    "mda/v1/partners/maldives/#",
    "mda/v1/alerts/#",
    "mda/v1/hazards/#",
    "mda/v1/status",
    "mda/internal/#",
    "mda/#",
)


async def _subscribe_all(client: aiomqtt.Client) -> None:
    for topic in SUBSCRIPTIONS:
        try:
            await client.subscribe(topic, qos=1)
        except aiomqtt.MqttError:
            pass  # a refused subscription is as good as an undelivered message


async def test_each_partner_reads_only_its_own_feed(acl_broker):
    port = acl_broker
    async with (
        _client(port, "partner-srilanka") as lk,
        _client(port, "partner-kenya") as ke,
        _client(port, "mda") as service,
    ):
        await _subscribe_all(lk)
        await _subscribe_all(ke)
        for topic in (
            "mda/v1/partners/maldives/alerts/loitering/1",
            "mda/v1/alerts/loitering/1",
            "mda/internal/alerts/loitering",
            "mda/v1/status",
            "mda/v1/hazards/7",
            "mda/v1/hazards/7/cap",
            "mda/v1/partners/maldives/hazards/7",
            "mda/v1/partners/srilanka/alerts/loitering/1",
            "mda/v1/partners/srilanka/hazards/7",
            "mda/v1/partners/srilanka/hazards/7/cap",
            "mda/v1/partners/srilanka/end",
            "mda/v1/partners/kenya/alerts/loitering/1",
        ):
            await service.publish(topic, b"{}", qos=1)
        received = await _read_until(lk, "mda/v1/partners/srilanka/end")
        assert received == [
            "mda/v1/status",
            "mda/v1/partners/srilanka/alerts/loitering/1",
            "mda/v1/partners/srilanka/hazards/7",
            "mda/v1/partners/srilanka/hazards/7/cap",
            "mda/v1/partners/srilanka/end",
        ]
        try:
            async with asyncio.timeout(0.5):
                async for m in ke.messages:  # disabled: nothing, not even its old topic
                    raise AssertionError(f"kenya received {m.topic}")
        except TimeoutError:
            pass


async def test_a_partner_cannot_publish(acl_broker):
    port = acl_broker
    async with _client(port, "partner-srilanka") as lk, _client(port, "mda") as service:
        await service.subscribe("mda/#", qos=1)
        await lk.publish("mda/v1/partners/srilanka/alerts/loitering/1", b"{}", qos=1)
        await lk.publish("mda/v1/alerts/loitering/1", b"{}", qos=1)
        await lk.publish("mda/v1/status", b'{"status": "offline"}', qos=1)
        await service.publish("mda/v1/end", b"{}", qos=1)
        assert await _read_until(service, "mda/v1/end") == ["mda/v1/end"]
