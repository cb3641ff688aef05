"""deploy/mosquitto/production.conf and mda.acl, run for real: a partner reads its own
subtree and nothing else, publishes nothing, and nobody connects without an account."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"
ACCOUNTS = {
    "mda": "svc-pw",
    "partner-mauritius": "mu-pw",
    "partner-seychelles": "sc-pw",
    "ops-dashboard": "ops-pw",
}
TLS_ONLY = ("listener 8883", "certfile ", "keyfile ", "cafile ", "tls_version ")


def _test_variant(conf: str, etc: Path, state: Path) -> str:
    """production.conf with its paths moved into a temp dir and without the TLS listener
    (no certificates here). Each edit must apply, so a reshaped file is noticed."""
    edits = {
        "listener 1883 127.0.0.1": "listener @PORT@ 127.0.0.1",
        "/etc/mosquitto/": f"{etc}/",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {state}/",
        "log_dest syslog": "log_dest stderr",
    }
    for old, new in edits.items():
        assert old in conf, f"production.conf no longer contains {old!r}; update this test"
        conf = conf.replace(old, new)
    kept = [ln for ln in conf.splitlines() if not ln.startswith(TLS_ONLY)]
    assert len(kept) == len(conf.splitlines()) - len(TLS_ONLY)
    return "\n".join(kept) + "\n"


@pytest.fixture(scope="module")
def production_broker(mosquitto_factory) -> Iterator[int]:
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        pytest.fail("mosquitto_passwd not found: apt-get install mosquitto", pytrace=False)
    # Not under pytest's 0700 temp root: the broker reads these after dropping privileges.
    root = Path(tempfile.mkdtemp(prefix="mda-mosquitto-prod-"))
    etc, state = root / "etc", root / "state"
    etc.mkdir()
    state.mkdir()
    passwd = etc / "mda.passwd"
    for i, (user, password) in enumerate(ACCOUNTS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run([passwd_tool, *create, "-b", str(passwd), user, password], check=True)
    shutil.copy(DEPLOY / "mda.acl", etc / "mda.acl")
    if os.geteuid() == 0:  # as root, the broker drops to the mosquitto user
        for path in (root, etc, state, passwd, etc / "mda.acl"):
            shutil.chown(path, "mosquitto", "mosquitto")
    config = _test_variant((DEPLOY / "production.conf").read_text(), etc, state)
    try:
        broker = mosquitto_factory(config, root)
        yield broker.port
        broker.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _client(port: int, user: str | None, password: str | None = None) -> aiomqtt.Client:
    if user is not None and password is None:
        password = ACCOUNTS[user]
    return aiomqtt.Client("127.0.0.1", port, username=user, password=password)


async def _read_until(client: aiomqtt.Client, sentinel: str) -> list[str]:
    topics = []
    async with asyncio.timeout(5):
        async for message in client.messages:
            topics.append(str(message.topic))
            if str(message.topic) == sentinel:
                return topics
    return topics


async def test_partner_reads_only_its_own_subtree(production_broker):
    port = production_broker
    async with _client(port, "partner-mauritius") as partner, _client(port, "mda") as service:
        for topic in (
            "mda/v1/partners/mauritius/#",
            "mda/v1/partners/seychelles/#",
            "mda/internal/#",
        ):
            try:
                await partner.subscribe(topic, qos=1)
            except aiomqtt.MqttError:
                pass  # a refused subscription is as good as an undelivered message
        # One publisher, QoS 1: the broker delivers in publish order, so the sentinel
        # arrives after anything the partner might wrongly receive.
        for topic in (
            "mda/v1/partners/seychelles/alert",
            "mda/internal/alert",
            "mda/v1/partners/mauritius/alert",
            "mda/v1/partners/mauritius/end",
        ):
            await service.publish(topic, b"{}", qos=1)
        received = await _read_until(partner, "mda/v1/partners/mauritius/end")
    assert received == ["mda/v1/partners/mauritius/alert", "mda/v1/partners/mauritius/end"]


async def test_partner_cannot_publish(production_broker):
    port = production_broker
    async with _client(port, "partner-mauritius") as partner, _client(port, "mda") as service:
        await service.subscribe("mda/#", qos=1)
        await partner.publish("mda/v1/partners/mauritius/forged", b"{}", qos=1)  # acked, dropped
        await partner.publish("mda/internal/forged", b"{}", qos=1)
        await service.publish("mda/internal/end", b"{}", qos=1)
        received = await _read_until(service, "mda/internal/end")
    assert received == ["mda/internal/end"]


@pytest.mark.parametrize(
    "user,password",
    [(None, None), ("partner-mauritius", "wrong")],
    ids=["anonymous", "wrong-password"],
)
async def test_no_account_no_connection(production_broker, user, password):
    with pytest.raises(aiomqtt.MqttError):
        async with _client(production_broker, user, password):
            pass
