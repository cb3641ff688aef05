"""One wire format for an alert: the live WebSocket's frames carry the CloudEvent the MQTT
feeds (``mda/v1/...`` and the internal ``<prefix>/alerts/<kind>``) publish
(``exchange.feeds.alert_cloudevent``, signed), and with the desk's own fields beside it
they give back ``store.alerts.AlertMessage``, whatever query produced the row."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mda.exchange.feeds import alert_cloudevent
from mda.exchange.publish import mqtt_payload
from mda.exchange.signing import fingerprint
from mda.store.alerts import ALERT_COLUMNS, AlertMessage, alert_message
from mda.web.live import LiveHub, _Client, alert_of_frame

KOLKATA = timezone(timedelta(hours=5, minutes=30))


def _row() -> dict:
    """A row as ``save_changes`` returns it, read by a connection in another time zone, with
    a column the format does not carry."""
    t = datetime(2031, 1, 1, 3, 30, tzinfo=KOLKATA)
    return {
        "id": 7,
        "key": "loitering:419000001:1",
        "kind": "loitering",
        "severity": "medium",
        "status": "open",
        "mmsi": 419000001,
        "other_mmsi": None,
        "start": t,
        "end": None,
        "lat": 12.5,
        "lon": 70.25,
        "zone": None,
        "details": {"text": "loitering 2 h"},
        "created_at": t,
        "updated_at": t,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "closed_by": None,
        "closed_at": None,
        "note": None,
        "outcome": None,
        "change": "opened",
        "inserted": True,
    }


def test_the_message_has_every_column_of_an_alert_the_vessel_name_and_the_change():
    names = [f for f in AlertMessage.__dataclass_fields__]
    assert names == [*ALERT_COLUMNS, "vessel_name", "stored", "change"]
    m = alert_message(_row())
    assert m.change == "opened" and m.vessel_name is None and m.stored
    assert "stored" not in m.to_dict()  # said only of an alert still waiting for the database
    waiting = alert_message({**_row(), "id": -1, "stored": False})
    assert waiting.to_dict()["stored"] is False and waiting.to_event()["id"] == -1
    assert alert_message(_row(), change="acknowledged").change == "acknowledged"
    assert "inserted" not in m.to_event()


class _Socket:
    def __init__(self):
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


KEY = Ed25519PrivateKey.generate()


async def _live_frame(row: dict) -> dict:
    hub = LiveHub(source="urn:mda:test", signing_key=KEY)
    ws = _Socket()
    client = _Client(ws, 1 << 20)
    hub._clients.add(client)
    task = asyncio.create_task(client.send_loop())
    try:
        await hub.publish_alert(row)
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
    [frame] = [json.loads(m) for m in ws.sent]
    return frame


async def test_the_websocket_and_mqtt_carry_the_same_alert():
    row = _row()
    frame = await _live_frame(row)
    # the frame's event is the CloudEvent the feeds publish, signed by the installation
    assert frame["event"] == alert_cloudevent(alert_message(row), "urn:mda:test", key=KEY)
    assert frame["event"]["mdakeyid"] == fingerprint(KEY) and frame["event"]["mdasig"]
    assert frame["event"]["data"]["properties"]["start"] == "2030-12-31T22:00:00Z"
    # with the desk's fields beside it, it is the alert of GET /api/alerts, whole
    alert = alert_of_frame(frame)
    assert alert == alert_message(row).to_dict()
    assert alert["start"] == "2030-12-31T22:00:00+00:00" and alert["lat"] == 12.5
    assert set(frame["desk"]).isdisjoint(frame["event"]["data"]["properties"])
    # the internal MQTT topics (<prefix>/alerts/<kind>) carry that same signed event
    mqtt = json.loads(mqtt_payload(alert_message(row), "urn:mda:test", KEY))
    assert mqtt == frame["event"]
    assert frame["type"] == "alert" and frame["change"] == "opened"
    assert mqtt["data"]["properties"]["change"] == "opened"
    # an alert still waiting for the database says so, with its provisional id
    waiting = alert_of_frame(await _live_frame({**row, "id": -3, "stored": False}))
    assert waiting["stored"] is False and waiting["id"] == -3
