"""The partner API (issue 12, part 3) through the ASGI client on the real database: a
partner's token lists and downloads only what was shared with it (alerts without the
desk's internal fields, and the very extract that was shared, verifiable with the sender's
key); every other route refuses it (403) and the partner routes refuse every other token."""

from __future__ import annotations

import hashlib

from fastapi.routing import APIRoute
from web_support import NOW, Web, alert_change, vessel

from mda.exchange.signing import load_or_create_key
from mda.exchange.verify import verify_extract
from mda.store.partners import add_partner, disable_partner
from mda.web.routes import ROUTERS


async def _setup(web: Web) -> tuple[list[dict], dict, dict]:
    fixes = [vessel(419000001, 9.0 + i * 0.001, 79.0, ts=NOW - 3600 + i * 60) for i in range(20)]
    await web.write([p for p, _ in fixes], [fixes[0][1]])
    rows = await web.alerts(
        alert_change("a1", severity="high", lat=9.0, lon=79.0, start=NOW - 3000, end=NOW - 1200),
        alert_change("a2", kind="encounter", lat=12.0, lon=70.0),
        alert_change("a3", kind="ais_gap", lat=9.0, lon=79.0),
    )
    async with await web.conn() as c:
        _, lk = await add_partner(c, "srilanka", "LK", automatic=False)
        _, mv = await add_partner(c, "maldives", "MV", automatic=False)
    bearer = {n: {"Authorization": f"Bearer {t}"} for n, t in (("lk", lk), ("mv", mv))}
    return rows, bearer["lk"], bearer["mv"]


async def test_a_partner_sees_only_what_was_shared_with_it(web: Web, tmp_path):
    (a1, a2, a3), lk, mv = await _setup(web)
    officer = await web.token("officer")
    r = await web.client.post(
        f"/api/alerts/{a1['id']}/share",
        json={"partners": ["srilanka"], "extract": True},
        headers=officer,
    )
    assert r.status_code == 200, r.text
    shared_sha = r.json()["shares"][0]["extract_sha256"]
    r = await web.client.post(
        f"/api/alerts/{a2['id']}/share", json={"partners": ["maldives"]}, headers=officer
    )
    assert r.status_code == 200
    # the officer's note and name stay on the desk
    r = await web.client.post(
        f"/api/alerts/{a1['id']}/ack",
        json={"note": "internal: boarding team"},
        headers=officer,
    )
    assert r.status_code == 200, r.text

    r = await web.client.get("/api/partner/alerts", headers=lk)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["partner"] == "srilanka" and body["count"] == 1
    (alert,) = body["alerts"]
    assert alert["id"] == a1["id"] and alert["kind"] == "loitering"
    assert alert["status"] == "acknowledged" and alert["end"].endswith("Z")
    assert alert["shared"]["mode"] == "manual" and alert["shared"]["extract_sha256"] == shared_sha
    assert "internal" not in r.text and "test-officer" not in r.text
    assert not {"note", "acknowledged_by", "key", "outcome"} & alert.keys()

    r = await web.client.get("/api/partner/alerts", headers=mv)
    assert [a["id"] for a in r.json()["alerts"]] == [a2["id"]]
    for headers, alert_id in ((lk, a2["id"]), (lk, a3["id"]), (mv, a1["id"]), (lk, 999999)):
        r = await web.client.get(f"/api/partner/alerts/{alert_id}", headers=headers)
        assert r.status_code == 404, (alert_id, r.text)
    r = await web.client.get(f"/api/partner/alerts/{a1['id']}", headers=lk)
    assert r.status_code == 200 and r.json()["id"] == a1["id"]

    # the extract, exactly as shared: its SHA-256 is the share log's, and it verifies
    r = await web.client.get(f"/api/partner/alerts/{a1['id']}/extract", headers=lk)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert hashlib.sha256(r.content).hexdigest() == shared_sha == r.headers["x-extract-sha256"]
    assert await web.sql("SELECT extract_sha256 FROM share_log WHERE partner = 'srilanka'") == [
        (shared_sha,)
    ]
    (tmp_path / "x.zip").write_bytes(r.content)
    key = load_or_create_key(tmp_path / "data")
    verified = verify_extract(tmp_path / "x.zip", key.public_key())  # raises if not
    assert verified.bag == f"mda-alert-{a1['id']}"
    audited = await web.sql(
        "SELECT details->>'sha256', details->'shared_with' FROM audit_log "
        "WHERE action = 'extract.alert'"
    )
    assert audited == [(shared_sha, ["srilanka"])]
    downloads = await web.sql(
        "SELECT actor, role, target, details->>'sha256' FROM audit_log "
        "WHERE action = 'partner.extract'"
    )
    assert downloads == [("srilanka", "partner", f"alert:{a1['id']}", shared_sha)]
    for headers, alert_id in ((mv, a2["id"]), (mv, a1["id"]), (lk, a2["id"])):
        r = await web.client.get(f"/api/partner/alerts/{alert_id}/extract", headers=headers)
        assert r.status_code == 404

    # disabled: its token stops at once, the other partner goes on
    async with await web.conn() as c:
        await disable_partner(c, "srilanka")
    assert (await web.client.get("/api/partner/alerts", headers=lk)).status_code == 401
    assert (await web.client.get("/api/partner/alerts", headers=mv)).status_code == 200


async def test_every_other_route_refuses_a_partner_and_partner_routes_refuse_the_rest(web: Web):
    (a1, *_), lk, _ = await _setup(web)
    checked = 0
    for route in (r for router in ROUTERS for r in router.routes):
        if not isinstance(route, APIRoute) or route.path.startswith("/api/partner/"):
            continue
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", str(a1["id"]))
        for method in sorted(route.methods - {"HEAD"}):
            anonymous = await web.client.request(method, path)
            if anonymous.status_code != 401:
                continue  # public (health, login page, docs)
            r = await web.client.request(method, path, headers=lk)
            assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
            checked += 1
    assert checked >= 30  # the API's routes, reads and writes alike

    for role in ("viewer", "officer", "admin", "receiver"):
        r = await web.client.get("/api/partner/alerts", headers=await web.token(role))
        assert r.status_code == 403, role
    assert (await web.client.get("/api/partner/alerts")).status_code == 401
    # a partner's token opens no session either
    await web.client.get("/")
    r = await web.link_login(lk["Authorization"].split()[1])
    assert r.status_code == 403 and "mda_session" not in r.cookies


async def test_an_admin_adds_and_disables_partners_through_the_api(web: Web):
    admin = await web.token("admin")
    box = {"type": "Polygon", "coordinates": [[[57, -21], [58, -21], [58, -20], [57, -21]]]}
    body = {"name": "mauritius", "country": "mu", "kinds": ["encounter"], "area": box}
    r = await web.client.post("/api/partners", json=body, headers=await web.token("officer"))
    assert r.status_code == 403
    r = await web.client.post("/api/partners", json=body, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["partner"]["country"] == "MU" and made["partner"]["area"] == box
    bearer = {"Authorization": f"Bearer {made['token']}"}
    r = await web.client.get("/api/partner/alerts", headers=bearer)
    assert r.status_code == 200 and r.json()["alerts"] == []
    assert (await web.client.post("/api/partners", json=body, headers=admin)).status_code == 409
    for bad in ({"kinds": ["spy"]}, {"area": {"type": "Point", "coordinates": [57, -20]}}):
        r = await web.client.post(
            "/api/partners", json={**body, "name": "other", **bad}, headers=admin
        )
        assert r.status_code == 422, r.text

    r = await web.client.post("/api/partners/mauritius/disable", headers=admin)
    assert r.status_code == 200 and r.json()["tokens_revoked"] == 1
    assert (await web.client.get("/api/partner/alerts", headers=bearer)).status_code == 401
    r = await web.client.post("/api/partners/mauritius/disable", headers=admin)
    assert r.status_code == 409
    r = await web.client.post("/api/partners/atlantis/disable", headers=admin)
    assert r.status_code == 404
    actions = await web.sql(
        "SELECT action, actor FROM audit_log WHERE action LIKE 'partner.%%' ORDER BY id"
    )
    assert actions == [("partner.add", "test-admin"), ("partner.disable", "test-admin")]
