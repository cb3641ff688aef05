"""Partners' feeds in, secured (issue 12): ``mqtts://`` to a partner's broker checked
against a CA file, on a real Mosquitto with a TLS listener (a throwaway CA and server
certificate made here); and events that arrive while our database is away, kept on disk
and stored once it is back, even across a restart of the subscriber (a TimescaleDB of the
test's own, stopped and started)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import ssl
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from test_outage import own_timescale  # noqa: F401 (a fixture: a TimescaleDB of its own to stop)
from web_support import Web

from mda.exchange.feeds import alert_cloudevent, alert_topic, event_payload
from mda.exchange.partner_feed import PartnerFeed
from mda.exchange.publish import BrokerUrlError
from mda.exchange.signing import fingerprint, public_pem
from mda.settings import load_settings
from mda.store.alerts import alert_message
from mda.store.partners import add_partner

pytestmark = pytest.mark.integration

SOURCE = "urn:mda:MRCC-Colombo"
KEY = Ed25519PrivateKey.generate()  # the partner's installation key
PUBLIC = (public_pem(KEY), fingerprint(KEY))
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _payload(remote_id: int, status: str = "open") -> tuple[str, bytes]:
    """A signed event as the partner's AlertFeed publishes it to its partner 'india'."""
    row = {
        "id": remote_id,
        "kind": "loitering",
        "severity": "high",
        "status": status,
        "mmsi": 419000001,
        "start": START,
        "updated_at": START + timedelta(minutes=len(status)),
        "lat": 8.5,
        "lon": 79.5,
        "details": {"text": "loitering 3 h"},
        "change": "shared" if status == "open" else "updated",
    }
    message = alert_message(row)
    return alert_topic(message, "india"), event_payload(alert_cloudevent(message, SOURCE, key=KEY))


async def _until(check, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


# ----------------------------------------------------------------------------------- TLS


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(ca_key, ca_cert):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def tls_broker(mosquitto_factory):
    """A Mosquitto whose only listener is TLS, its certificate (for 127.0.0.1 and
    localhost) signed by a CA of its own; and another CA that signed nothing of it."""
    root = Path(tempfile.mkdtemp(prefix="mda-mosquitto-tls-"))
    ca_key, ca_cert = _ca("mda test CA")
    key, cert = _server_cert(ca_key, ca_cert)
    _, other_ca = _ca("somebody else's CA")
    files = {
        "ca.pem": _pem_cert(ca_cert),
        "server.pem": _pem_cert(cert),
        "server.key": _pem_key(key),
        "other-ca.pem": _pem_cert(other_ca),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    if os.geteuid() == 0:  # as root, the broker drops to the mosquitto user
        for path in [root, *(root / n for n in files)]:
            shutil.chown(path, "mosquitto", "mosquitto")
    config = (
        "per_listener_settings false\nlistener @PORT@ 127.0.0.1\nallow_anonymous true\n"
        f"cafile {root / 'ca.pem'}\ncertfile {root / 'server.pem'}\n"
        f"keyfile {root / 'server.key'}\npersistence false\nlog_dest stderr\n"
    )
    try:
        broker = mosquitto_factory(config, root)
        yield broker, root / "ca.pem", root / "other-ca.pem"
        broker.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_mqtts_to_a_partners_broker_checked_against_the_ca_file(web: Web, tls_broker):
    broker, ca, other_ca = tls_broker
    async with await web.conn() as c:
        await add_partner(c, "srilanka", "LK", automatic=False, public_key=PUBLIC)
    url = f"mqtts://127.0.0.1:{broker.port}/mda/v1/partners/india/#?partner=srilanka"
    feed = PartnerFeed(f"{url}&source={SOURCE}", db_url=web.db_url, ca_file=str(ca))
    # the same broker with a CA that did not sign its certificate, and without TLS
    wrong = PartnerFeed(
        f"{url}&source={SOURCE}&ca_file={other_ca}",
        db_url=web.db_url,
        retry_initial=0.1,
        retry_max=0.3,
    )
    plain = PartnerFeed(
        f"mqtt://127.0.0.1:{broker.port}/mda/v1/partners/india/#?partner=srilanka",
        db_url=web.db_url,
        retry_initial=0.1,
        retry_max=0.3,
    )
    tasks = [asyncio.create_task(f.run()) for f in (feed, wrong, plain)]
    try:
        await _until(lambda: feed.connected, what="the TLS subscription")
        publisher_tls = ssl.create_default_context(cafile=str(ca))
        async with aiomqtt.Client("127.0.0.1", broker.port, tls_context=publisher_tls) as pub:
            topic, payload = _payload(501)
            await pub.publish(topic, payload, qos=1)
        await _until(lambda: feed.stored == 1, what="the event over TLS")
        rows = await web.sql("SELECT key, origin_partner FROM alerts")
        assert rows == [("partner:srilanka:501", "srilanka")]
        await _until(lambda: wrong.reconnects >= 2, what="retries with the wrong CA")
        assert not wrong.connected and "certificate verify failed" in (wrong.error or "")
        assert not plain.connected and wrong.stored == plain.stored == 0  # no TLS, no entry
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_tls_settings_and_their_mistakes(tmp_path):
    toml = tmp_path / "mda.toml"
    toml.write_text(
        "[[partner_feeds]]\n"
        'url = "mqtts://u:secret@broker.lk/mda/v1/partners/india/#"\n'
        'partner = "srilanka"\n'
        'ca_file = "/etc/mda/partners/srilanka-ca.pem"\n'
    )
    (spec,) = load_settings(toml, environ={}).partner_feeds
    assert spec.ca_file == "/etc/mda/partners/srilanka-ca.pem"
    feed = PartnerFeed("mqtts://broker.lk/mda/v1/partners/india/#?partner=srilanka", db_url="x")
    assert feed.port == 8883 and feed.tls_context is not None  # the system's CAs
    with pytest.raises(BrokerUrlError, match=r"ca_file /nowhere/ca\.pem"):
        PartnerFeed(
            "mqtts://h/mda/v1/partners/india/#?partner=srilanka",
            db_url="x",
            ca_file="/nowhere/ca.pem",
        )
    with pytest.raises(BrokerUrlError, match="ca_file needs mqtts"):
        PartnerFeed(
            "mqtt://h/mda/v1/partners/india/#?partner=srilanka", db_url="x", ca_file="ca.pem"
        )


# ---------------------------------------------------------------------- database outage


async def test_events_during_a_database_outage_are_kept_and_stored_when_it_returns(
    own_timescale,  # noqa: F811 (test_outage's fixture: a server of its own to stop)
    mqtt_broker,
    tmp_path,
):
    from mda.store.migrate import upgrade

    url = own_timescale.url
    with psycopg.connect(url) as conn:
        upgrade(conn)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        await add_partner(c, "srilanka", "LK", automatic=False, public_key=PUBLIC)
    data = tmp_path / "data"
    feed_url = f"{mqtt_broker.url}/mda/v1/partners/outage/#?partner=srilanka&source={SOURCE}"

    def subscriber() -> PartnerFeed:
        return PartnerFeed(feed_url, db_url=url, spool_root=data, retry_initial=0.2, retry_max=1.0)

    def alerts() -> list[tuple]:
        with psycopg.connect(url) as conn:
            return conn.execute(
                "SELECT key, status FROM alerts WHERE origin_partner = 'srilanka' ORDER BY key"
            ).fetchall()

    async def publish(*payloads: tuple[str, bytes]) -> None:
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            for topic, payload in payloads:
                await pub.publish(topic.replace("/india/", "/outage/"), payload, qos=1)

    feed = subscriber()
    task = asyncio.create_task(feed.run())
    try:
        await _until(lambda: feed.connected, what="the subscription")
        await publish(_payload(701))
        await _until(lambda: feed.stored == 1, what="the first event")

        await asyncio.to_thread(own_timescale.stop)  # the outage
        await publish(_payload(702), _payload(701, "acknowledged"), _payload(702))
        await _until(lambda: feed.kept == 3, what="the events kept")
        assert feed.stored == 1 and not feed.rejected and feed.error.startswith("database")
        spool = list(data.glob("spool-partner-srilanka-*/*.spool"))
        assert len(spool) == 3  # on disk: a restart keeps them
        assert feed.as_dict()["kept"] == 3
    finally:
        task.cancel()  # the service stops during the outage
        await asyncio.gather(task, return_exceptions=True)

    await asyncio.to_thread(own_timescale.start)  # back; the service starts again
    again = subscriber()
    assert again.kept == 3
    task = asyncio.create_task(again.run())
    try:
        await _until(lambda: again.kept == 0, timeout=20, what="the kept events stored")
        # in order: 702 opened, 701 acknowledged, 702 again (a duplicate, applied once)
        assert again.stored == 2 and again.duplicates == 1 and not again.rejected
        assert alerts() == [
            ("partner:srilanka:701", "acknowledged"),
            ("partner:srilanka:702", "open"),
        ]
        assert not list(data.glob("spool-partner-srilanka-*/*.spool"))
        await _until(lambda: again.connected, what="the subscription again")
        await publish(_payload(703))  # and new events go straight in
        await _until(lambda: again.stored == 3, what="an event after the outage")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_what_is_kept_is_bounded_and_past_the_bound_counted_as_lost(caplog):
    from support import free_port

    feed = PartnerFeed(
        "mqtt://h/mda/v1/partners/india/#?partner=srilanka&source=" + SOURCE,
        db_url=f"postgresql://mda@127.0.0.1:{free_port()}/nowhere",  # nobody listens
        max_kept=2,
    )
    got = [await feed.handle(_payload(800 + i)[1], "t") for i in range(3)]
    assert got == ["kept", "kept", "database"]
    assert feed.kept == 2 and feed.rejected == {"database": 1} and feed.stored == 0
    (line,) = [r.getMessage() for r in caplog.records if "(database)" in r.getMessage()]
    assert "2 events wait already: lost" in line and "partner feed srilanka" in line
    assert not await feed.store_kept()  # still away: both stay, in order
    assert feed.kept == 2
