"""The alert desk's routes: filters and order, acknowledge and close with their history,
notices kept off the desk and counted by source (``/api/data-quality``, ``/metrics``),
closing with an outcome and the false-alarm ratio."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from web_support import NOW, alert_change, seed_vessels

from mda.analytics import AlertChange

pytestmark = pytest.mark.integration


async def test_alert_list_filters_and_order(web):
    h = await web.token("viewer")
    await web.alerts(
        alert_change(
            "a", kind="loitering", start=NOW - 5 * 3600, end=NOW - 4 * 3600, lat=12, lon=70
        ),
        alert_change("b", kind="encounter", severity="high", start=NOW - 3 * 3600, lat=-5, lon=60),
        alert_change(
            "c", kind="distress_beacon", severity="critical", start=NOW - 600, lat=20, lon=90
        ),
    )
    await web.sql("UPDATE alerts SET status = 'closed' WHERE key = 'a'")

    async def ids(**params):
        r = await web.client.get("/api/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["count"] == len(body["alerts"])
        return [a["key"] for a in body["alerts"]]

    assert await ids() == ["c", "b", "a"]  # newest first
    assert await ids(status="open") == ["c", "b"]
    assert await ids(status="open,closed") == ["c", "b", "a"]
    assert await ids(kind="encounter,loitering") == ["b", "a"]
    assert await ids(since="-2h") == ["c", "b"]  # b goes on; a ended 4 h ago
    assert await ids(until="-1h") == ["b", "a"]
    assert await ids(bbox="55,-10,75,15") == ["b", "a"]
    assert await ids(limit=1) == ["c"]
    r = await web.client.get("/api/alerts?status=bogus", headers=h)
    assert r.status_code == 422
    one = (
        await web.client.get("/api/alerts", params={"kind": "distress_beacon"}, headers=h)
    ).json()
    a = one["alerts"][0]
    assert isinstance(a["id"], int) and a["severity"] == "critical"
    assert a["details"] == {"rule": "distress_beacon", "sog_max_kn": 1.2}
    assert datetime.fromisoformat(a["start"]).utcoffset() == timedelta(0)


async def test_acknowledge_and_close_lifecycle_with_history(web):
    await seed_vessels(web)
    officer = await web.token("officer", owner="oscar")
    [row] = await web.alerts(alert_change("life", mmsi=419000001))
    aid = row["id"]
    r = await web.client.get(f"/api/alerts/{aid}", headers=officer)
    assert r.json()["status"] == "open" and r.json()["vessel_name"] == "MUMBAI STAR"
    assert [h["action"] for h in r.json()["history"]] == ["opened"]

    r = await web.client.post(f"/api/alerts/{aid}/ack", json={"note": "watching"}, headers=officer)
    assert r.status_code == 200
    assert r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == "oscar"
    r = await web.client.post(f"/api/alerts/{aid}/ack", json={}, headers=officer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await web.client.post(
        f"/api/alerts/{aid}/close",
        json={"note": "fishing, legitimate", "outcome": "no_action"},
        headers=officer,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "closed" and body["closed_by"] == "oscar"
    assert body["note"] == "fishing, legitimate" and body["outcome"] == "no_action"
    assert [(h["action"], h["actor"], h["outcome"]) for h in body["history"]] == [
        ("opened", "analytics", None),
        ("acknowledged", "oscar", None),
        ("closed", "oscar", "no_action"),
    ]
    r = await web.client.post(f"/api/alerts/{aid}/close", headers=officer)
    assert r.status_code == 409
    r = await web.client.post("/api/alerts/999999/ack", headers=officer)
    assert r.status_code == 404
    r = await web.client.post(
        f"/api/alerts/{aid}/close", json={"note": "x" * 3000}, headers=officer
    )
    assert r.status_code == 422


def notice(
    key: str,
    source: str,
    kind: str = "position_jump",
    mmsi: int = 419000001,
    start: float = NOW - 1800,
    text: str = "one fix 40 nm off the track, back in 10 s",
) -> AlertChange:
    """A data-quality notice as the analytics emit it: severity info, the feed in details."""
    return alert_change(
        key,
        kind=kind,
        severity="info",
        mmsi=mmsi,
        start=start,
        end=start,
        details={"text": text, "source": source},
    )


def metric_lines(text: str, name: str) -> dict[str, float]:
    """{'{labels}': value} of one metric's samples."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


async def test_notices_stay_off_the_desk_and_are_counted_by_source(web):
    await seed_vessels(web)
    h = await web.token("viewer")
    await web.alerts(
        alert_change("desk-1", mmsi=419000001),
        alert_change("desk-2", mmsi=419000002),
        notice("n-1", "feed-a/kochi", start=NOW - 3600, text="latitude off by 1.0 deg"),
        notice("n-2", "feed-a/kochi", start=NOW - 600, text="latitude off by 2.0 deg"),
        notice(
            "n-3",
            "feed-b",
            kind="identity_clash",
            start=NOW - 1200,
            text="two transmitters as 419000001: garbled copies of one",
        ),
        notice("n-old", "feed-a/kochi", start=NOW - 3 * 86400),
    )
    # stored as they came, severity info
    assert await web.sql("SELECT count(*) FROM alerts WHERE severity = 'info'") == [(4,)]

    async def keys(**params) -> list[str]:
        r = await web.client.get("/api/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [a["key"] for a in r.json()["alerts"]]

    # the desk's default query leaves notices out; asked for, they are there
    assert sorted(await keys()) == ["desk-1", "desk-2"]
    assert await keys(severity="info", since="-24h") == ["n-2", "n-3", "n-1"]
    assert len(await keys(severity="medium,info")) == 6
    r = await web.client.get("/api/alerts?severity=urgent", headers=h)
    assert r.status_code == 422 and "severity: unknown urgent" in r.json()["error"]["message"]
    # a notice does not put its vessel in alert
    assert (await web.client.get("/api/vessels/419000001", headers=h)).json()["open_alerts"] == 1

    # the data-quality view: by source, then kind, the busiest first, with the latest examples
    r = await web.client.get("/api/data-quality", headers=h)
    assert r.status_code == 200, r.text
    dq = r.json()
    assert dq["total"] == 3  # the 3-day-old notice is outside the default 24 h
    since = datetime.fromisoformat(dq["since"])
    assert abs((datetime.now(UTC) - since) - timedelta(hours=24)) < timedelta(minutes=1)
    assert [(src["source"], src["count"]) for src in dq["sources"]] == [
        ("feed-a/kochi", 2),
        ("feed-b", 1),
    ]
    [jumps] = dq["sources"][0]["kinds"]
    assert (jumps["kind"], jumps["count"]) == ("position_jump", 2)
    assert [e["text"] for e in jumps["examples"]] == [
        "latitude off by 2.0 deg",
        "latitude off by 1.0 deg",
    ]
    assert jumps["examples"][0]["vessel_name"] == "MUMBAI STAR"
    assert datetime.fromisoformat(jumps["latest"]).timestamp() == pytest.approx(NOW - 600, abs=1)
    one = (await web.client.get("/api/data-quality?examples=1&since=-7d", headers=h)).json()
    assert one["total"] == 4 and len(one["sources"][0]["kinds"][0]["examples"]) == 1
    r = await web.client.get("/api/data-quality?since=yesterday", headers=h)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("since: not a time")
    r = await web.client.get("/api/data-quality?examples=500", headers=h)
    assert r.status_code == 422 and "examples" in r.json()["error"]["message"]

    # /metrics: notices per source and kind over the last 24 h; the desk's gauges without them
    text = (await web.client.get("/metrics", headers=h)).text
    assert metric_lines(text, "mda_notices") == {  # labels in name order (prometheus-client)
        '{kind="position_jump",source="feed-a/kochi"}': 2,
        '{kind="identity_clash",source="feed-b"}': 1,
    }
    assert "# TYPE mda_notices gauge" in text
    assert metric_lines(text, "mda_alerts_open") == {'{kind="loitering"}': 2}


async def test_closing_takes_an_outcome_that_feeds_the_false_alarm_ratio(web):
    officer = await web.token("officer", owner="olga")
    viewer = await web.token("viewer")
    rows = await web.alerts(
        *(alert_change(f"c{i}") for i in range(3)),
        alert_change("enc", kind="encounter", severity="high"),
        notice("quiet", "feed-a"),
    )
    c0, c1, c2, enc, quiet = (r["id"] for r in rows)

    async def close(aid, body):
        return await web.client.post(f"/api/alerts/{aid}/close", json=body, headers=officer)

    async def metrics() -> str:
        return (await web.client.get("/metrics", headers=viewer)).text

    # refused, with a message that says what to send, and nothing changes
    for body, message in (
        (None, "outcome: required to close alert"),
        ({"note": "looked at it"}, "outcome: required to close alert"),
        (
            {"note": "x", "outcome": "maybe"},
            "outcome: Input should be 'false_alarm', 'confirmed' or 'no_action'",
        ),
    ):
        r = await web.client.post(
            f"/api/alerts/{c0}/close", headers=officer, **({} if body is None else {"json": body})
        )
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid" and err["message"].startswith(message), err
    assert await web.sql("SELECT status, outcome FROM alerts WHERE id = %s", (c0,)) == [
        ("open", None)
    ]
    assert await web.sql("SELECT count(*) FROM audit_log WHERE action = 'alert.close'") == [(0,)]
    assert metric_lines(await metrics(), "mda_alert_false_alarm_ratio") == {}

    r = await close(c0, {"note": "buoy tender on station", "outcome": "false_alarm"})
    assert r.status_code == 200 and r.json()["outcome"] == "false_alarm"
    assert r.json()["history"][-1]["outcome"] == "false_alarm"
    assert (await close(c1, {"outcome": "confirmed", "note": "seen"})).status_code == 200
    assert (
        await close(enc, {"outcome": "no_action", "note": "STS transfer, notified"})
    ).status_code == 200
    text = await metrics()
    assert metric_lines(text, "mda_alert_false_alarm_ratio") == {
        '{kind="loitering"}': 0.5,
        '{kind="encounter"}': 0.0,
    }
    assert metric_lines(text, "mda_alert_closures_total") == {
        '{kind="encounter",outcome="no_action"}': 1,
        '{kind="loitering",outcome="confirmed"}': 1,
        '{kind="loitering",outcome="false_alarm"}': 1,
    }
    assert "# TYPE mda_alert_closures_total counter" in text
    assert (
        "# HELP mda_alert_false_alarm_ratio per kind (rule), false_alarm closures divided by "
        "all closures with an outcome, of desk alerts closed in the last 30 days" in text
    )

    assert (await close(c2, {"outcome": "false_alarm", "note": "bad fix"})).status_code == 200
    ratio = metric_lines(await metrics(), "mda_alert_false_alarm_ratio")
    assert ratio['{kind="loitering"}'] == pytest.approx(2 / 3, abs=1e-6)
    # a notice closes without an outcome, and is no closure of a rule
    r = await close(quiet, {"note": "known bad receiver"})
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["outcome"] is None
    # the share covers the last 30 days of closures; the counter every one
    await web.sql(
        "UPDATE alert_history SET time = now() - interval '40 days' "
        "WHERE alert_id = %s AND action = 'closed'",
        (c2,),
    )
    text = await metrics()
    assert metric_lines(text, "mda_alert_false_alarm_ratio")['{kind="loitering"}'] == 0.5
    assert (
        metric_lines(text, "mda_alert_closures_total")['{kind="loitering",outcome="false_alarm"}']
        == 2
    )
    assert metric_lines(text, "mda_alert_closures_recent") == {
        '{kind="encounter",outcome="no_action"}': 1,
        '{kind="loitering",outcome="confirmed"}': 1,
        '{kind="loitering",outcome="false_alarm"}': 1,
    }
    audit = await web.sql("SELECT details FROM audit_log WHERE action = 'alert.close' ORDER BY id")
    assert [d["outcome"] for (d,) in audit] == [
        "false_alarm",
        "confirmed",
        "no_action",
        "false_alarm",
        None,
    ]
