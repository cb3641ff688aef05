"""``PATCH /api/partners/{name}``, the admin's policy edit the map's Partners dialog uses:
only what is given changes, ``area: null`` clears the area, audited with the policy before
and after; officers and viewers are refused (403), an unknown partner is 404, a bad kind or
severity 422 and nothing changes."""

from __future__ import annotations

from mda.store.partners import add_partner

AREA = {"type": "Polygon", "coordinates": [[[79, 5], [82, 5], [82, 10], [79, 10], [79, 5]]]}


async def test_admins_edit_a_policy_and_nobody_else_can(web):
    async with await web.conn() as c:
        await add_partner(c, "srilanka", "LK", kinds=["encounter"], area=AREA, automatic=False)
    admin = await web.token("admin", owner="root")
    url = "/api/partners/srilanka"
    for role in ("officer", "viewer", "supervisor"):
        r = await web.client.patch(
            url, json={"min_severity": "high"}, headers=await web.token(role)
        )
        assert r.status_code == 403, (role, r.text)

    r = await web.client.patch(url, json={"min_severity": "high"}, headers=admin)
    assert r.status_code == 200, r.text
    p = r.json()["partner"]
    assert (p["kinds"], p["min_severity"], p["area"], p["automatic"]) == (
        ["encounter"],
        "high",
        AREA,
        False,
    )
    r = await web.client.patch(
        url, json={"kinds": [], "area": None, "automatic": True}, headers=admin
    )
    p = r.json()["partner"]
    assert (p["kinds"], p["min_severity"], p["area"], p["automatic"]) == ([], "high", None, True)

    assert (
        await web.client.patch(url, json={"kinds": ["nosuch"]}, headers=admin)
    ).status_code == 422
    r = await web.client.patch(url, json={"min_severity": "info"}, headers=admin)
    assert r.status_code == 422 and "severity" in r.json()["error"]["message"]
    r = await web.client.patch("/api/partners/nobody", json={"min_severity": "low"}, headers=admin)
    assert r.status_code == 404

    rows = await web.sql(
        "SELECT kinds, min_severity, area, automatic FROM partners WHERE name = 'srilanka'"
    )
    assert rows == [([], "high", None, True)]
    audit = await web.sql(
        "SELECT actor, details FROM audit_log WHERE action = 'partner.policy' ORDER BY id"
    )
    assert [a for a, _ in audit] == ["root", "root"]
    assert audit[0][1]["before"]["min_severity"] == "low"
    assert audit[0][1]["after"]["min_severity"] == "high"
    assert audit[1][1]["before"]["area"] is True and audit[1][1]["after"]["area"] is False
