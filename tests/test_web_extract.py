"""``GET /api/alerts/{id}/extract``, ``GET /api/extract`` and ``GET /api/alerts/{id}/extracts``
through the app on the real database: officers get the signed ZIP (the same bag as ``mda
extract``), viewers 403, an unknown alert 404; every extract is audited with the ZIP's
SHA-256 and listed under its alert."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from web_support import NOW, alert_change, vessel

from mda.exchange.signing import load_or_create_key
from mda.exchange.verify import verify_extract
from mda.ingest.records import RawSentence


async def _seed(web, raw: bool = True) -> int:
    fixes = [
        vessel(419000001, 12.0 + i * 0.001, 70.0, ts=NOW - 3600 + i * 60, name="MUMBAI STAR")
        for i in range(30)
    ]
    other = [vessel(419000009, 13.0, 71.0, ts=NOW - 1800)]
    async with await web.conn() as c:
        from mda.store.writer import write_batch

        sentences = []
        if raw:
            sentences = [
                RawSentence(
                    NOW - 3600 + i * 60,
                    "test",
                    f"\\c:{int(NOW) - 3600 + i * 60}*00\\!AIVDM,1,1,,A,X{i},0*00",
                    419000001,
                    1,
                )
                for i in range(30)
            ] + [RawSentence(NOW - 1800, "test", "!AIVDM,1,1,,B,OTHER,0*00", 419000009, 1)]
        await write_batch(
            c, [p for p, _ in fixes + other], [s for _, s in fixes[:1] + other], sentences
        )
    rows = await web.alerts(
        alert_change("loitering:419000001::1", start=NOW - 3000, end=NOW - 1200)
    )
    return rows[0]["id"]


async def test_an_officer_gets_the_signed_zip_audited_and_listed(web):
    alert_id = await _seed(web)
    officer = await web.token("officer", owner="watch1")
    r = await web.client.get(f"/api/alerts/{alert_id}/extract", headers=officer)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert f'filename="mda-alert-{alert_id}.zip"' in r.headers["content-disposition"]
    sha = hashlib.sha256(r.content).hexdigest()
    assert r.headers["x-extract-sha256"] == sha
    settings = web.app.state.settings
    key = load_or_create_key(settings.data_path).public_key()
    path = settings.data_path / "check.zip"
    path.write_bytes(r.content)
    verify_extract(path, key)
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    inc = json.loads(zf.read(f"mda-alert-{alert_id}/data/incident.json"))
    assert inc["extract"]["made_by"]["name"] == "watch1"
    assert inc["evidence"]["raw_sentences"] == 30 and inc["evidence"]["positions"] == 30
    raw = zf.read(f"mda-alert-{alert_id}/data/raw.nmea").decode()
    assert "OTHER" not in raw and raw.count("\n") == 30
    assert [p.name for p in (settings.data_path / "extracts").iterdir()] == []  # nothing left

    audit = await web.sql(
        "SELECT actor, action, target, details FROM audit_log WHERE action LIKE 'extract.%%'"
    )
    assert len(audit) == 1
    actor, action, target, details = audit[0]
    assert (actor, action, target) == ("watch1", "extract.alert", f"alert:{alert_id}")
    assert details["sha256"] == sha and details["size"] == len(r.content)

    listed = await web.client.get(f"/api/alerts/{alert_id}/extracts", headers=officer)
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 1 and body["extracts"][0]["sha256"] == sha
    assert body["extracts"][0]["actor"] == "watch1"


async def test_a_viewer_gets_403_and_an_unknown_alert_404(web):
    alert_id = await _seed(web)
    viewer = await web.token("viewer")
    officer = await web.token("officer")
    assert (
        await web.client.get(f"/api/alerts/{alert_id}/extract", headers=viewer)
    ).status_code == 403
    assert (
        await web.client.get(f"/api/alerts/{alert_id}/extracts", headers=viewer)
    ).status_code == 403
    r = await web.client.get("/api/alerts/987654/extract", headers=officer)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await web.client.get("/api/alerts/987654/extracts", headers=officer)).status_code == 404
    assert (await web.client.get(f"/api/alerts/{alert_id}/extract")).status_code == 401
    assert await web.sql("SELECT 1 FROM audit_log WHERE action LIKE 'extract.%%'") == []


async def test_an_alert_without_raw_sentences_still_gets_an_extract_that_says_so(web):
    alert_id = await _seed(web, raw=False)
    r = await web.client.get(f"/api/alerts/{alert_id}/extract", headers=await web.token("officer"))
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    inc = json.loads(zf.read(f"mda-alert-{alert_id}/data/incident.json"))
    assert inc["evidence"]["raw_sentences"] == 0
    assert "no raw sentences" in inc["evidence"]["raw_note"]
    assert zf.read(f"mda-alert-{alert_id}/data/raw.nmea") == b""


async def test_an_area_extract_from_the_api_and_its_bounds(web):
    await _seed(web)
    officer = await web.token("officer")
    r = await web.client.get(
        "/api/extract",
        params={"area": "11.5,69.5,12.5,70.5", "from": "-2h", "to": "now"},
        headers=officer,
    )
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    name = zf.namelist()[0].split("/")[0]
    inc = json.loads(zf.read(f"{name}/data/incident.json"))
    assert [v["mmsi"] for v in inc["vessels"]] == [419000001]  # 419000009 is outside the box
    assert f"{name}/data/incident.cise.xml" not in zf.namelist()
    audit = await web.sql("SELECT action, target FROM audit_log WHERE action = 'extract.area'")
    assert audit == [("extract.area", "area:11.5,69.5,12.5,70.5")]

    web.app.state.settings = web.app.state.settings.replace(extract_max_positions=5)
    big = await web.client.get(
        "/api/extract",
        params={"area": "11.5,69.5,12.5,70.5", "from": "-2h", "to": "now"},
        headers=officer,
    )
    assert big.status_code == 422 and big.json()["error"]["code"] == "too_large"
    assert "30 positions" in big.json()["error"]["message"]
    assert "limit of 5" in big.json()["error"]["message"]
    for bad in (
        {"area": "1,2,3", "from": "-2h", "to": "now"},
        {"area": "11,69,12,70", "from": "now", "to": "-2h"},
        {"area": "11,69,12,70", "from": "yesterday", "to": "now"},
    ):
        r = await web.client.get("/api/extract", params=bad, headers=officer)
        assert r.status_code == 422, bad
