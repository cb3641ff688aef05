"""Partners (issue 12, part 1): ``mda partner add|list|disable`` on the real database, the
partner's API token (role ``partner``) that no viewer route accepts and that stops working
as soon as the partner is disabled, and the pure policy rule."""

from __future__ import annotations

import asyncio
import json

import pytest
from web_support import Web

from mda.cli import main
from mda.store.partners import InvalidPartner, parse_area, policy_allows

# A box around the Gulf of Mannar (lon/lat).
MANNAR = {
    "type": "Polygon",
    "coordinates": [[[78.0, 8.0], [80.0, 8.0], [80.0, 10.0], [78.0, 10.0], [78.0, 8.0]]],
}


def _policy(**kw) -> dict:
    return {"kinds": [], "min_severity": "low", "area": None, "disabled": False, **kw}


def _alert(**kw) -> dict:
    return {"kind": "loitering", "severity": "medium", "lat": 9.0, "lon": 79.0, **kw}


def test_policy_allows_kinds_severity_and_area():
    assert policy_allows(_policy(), _alert())
    assert not policy_allows(_policy(), _alert(severity="info"))  # notices never go
    assert not policy_allows(_policy(disabled=True), _alert())
    kinds = _policy(kinds=["encounter", "distress_beacon"])
    assert policy_allows(kinds, _alert(kind="encounter"))
    assert not policy_allows(kinds, _alert(kind="loitering"))
    high = _policy(min_severity="high")
    assert policy_allows(high, _alert(severity="critical"))
    assert policy_allows(high, _alert(severity="high"))
    assert not policy_allows(high, _alert(severity="medium"))
    area = _policy(area=MANNAR)
    assert policy_allows(area, _alert(lat=9.0, lon=79.0))
    assert not policy_allows(area, _alert(lat=12.0, lon=70.0))
    assert not policy_allows(area, _alert(lat=None, lon=None))
    holed = _policy(
        area={
            "type": "MultiPolygon",
            "coordinates": [
                [
                    MANNAR["coordinates"][0],
                    [[78.5, 8.5], [79.5, 8.5], [79.5, 9.5], [78.5, 9.5], [78.5, 8.5]],
                ]
            ],
        }
    )
    assert not policy_allows(holed, _alert(lat=9.0, lon=79.0))  # in the hole
    assert policy_allows(holed, _alert(lat=8.2, lon=78.2))


def test_parse_area_takes_features_and_refuses_what_is_not_a_polygon():
    feature = {"type": "Feature", "properties": {}, "geometry": MANNAR}
    assert parse_area(json.dumps(feature)) == MANNAR
    assert parse_area({"type": "FeatureCollection", "features": [feature]}) == MANNAR
    for bad in (
        "not json",
        json.dumps({"type": "Point", "coordinates": [79, 9]}),
        json.dumps({"type": "Polygon", "coordinates": [[[79, 9], [80, 9]]]}),
        json.dumps({"type": "Polygon", "coordinates": [[[979, 9], [80, 9], [80, 10], [979, 9]]]}),
    ):
        with pytest.raises(InvalidPartner):
            parse_area(bad)


@pytest.fixture(autouse=True)
def _cli_in_thread(monkeypatch):
    # main() installs a SIGTERM handler, which only the main thread may do
    monkeypatch.setattr("mda.cli.signal.signal", lambda *a: None)


async def cli(*args: str) -> int:
    """``mda ARGS`` as a shell runs it (its own event loop, in a thread)."""
    return await asyncio.to_thread(main, list(args))


async def _add(migrated, capsys, *args) -> str:
    assert await cli("partner", "--database", migrated, "add", *args) == 0, capsys.readouterr()
    return capsys.readouterr().out.strip().splitlines()[-1]


async def test_partner_cli_token_and_disable(web: Web, tmp_path, capsys):
    area = tmp_path / "mannar.geojson"
    area.write_text(json.dumps({"type": "Feature", "geometry": MANNAR, "properties": {}}))
    token = await _add(
        web.db_url,
        capsys,
        *("srilanka", "--country", "lk", "--kinds", "encounter,loitering", "distress_beacon"),
        *("--min-severity", "high", "--area", str(area)),
    )
    assert token.startswith("mda_")
    await _add(web.db_url, capsys, "maldives", "--country", "MV", "--manual")

    # a partner that exists, a bad country, an unknown kind: one line each, exit 2
    assert await cli("partner", "--database", web.db_url, "add", "srilanka", "--country", "LK") == 2
    assert "already exists" in capsys.readouterr().err
    assert await cli("partner", "--database", web.db_url, "add", "x", "--country", "LKA") == 2
    assert "ISO 3166" in capsys.readouterr().err
    args = ["partner", "--database", web.db_url, "add", "y", "--country", "IN", "--kinds", "spy"]
    assert await cli(*args) == 2
    assert "unknown alert kind spy" in capsys.readouterr().err

    assert await cli("partner", "--database", web.db_url, "list") == 0
    listing = capsys.readouterr().out
    assert "srilanka" in listing and "LK" in listing
    assert "distress_beacon,encounter,loitering, high and above, in its area, automatic" in listing
    assert "maldives" in listing and "all kinds, low and above, anywhere, manual" in listing

    rows = await web.sql(
        "SELECT name, country, kinds, min_severity, area, automatic FROM partners ORDER BY id"
    )
    assert rows[0] == (
        "srilanka",
        "LK",
        ["distress_beacon", "encounter", "loitering"],
        "high",
        MANNAR,
        True,
    )
    assert await web.sql("SELECT owner, role FROM api_tokens ORDER BY id") == [
        ("srilanka", "partner"),
        ("maldives", "partner"),
    ]

    # the partner's token is no viewer: every existing route refuses it
    bearer = {"Authorization": f"Bearer {token}"}
    for path in ("/api/alerts", "/api/vessels", "/api/me", "/handover", "/"):
        r = await web.client.get(path, headers=bearer)
        assert r.status_code == 403, (path, r.status_code, r.text)

    # disabled: the token stops working at once, and the partner is listed as disabled
    assert await cli("partner", "--database", web.db_url, "disable", "srilanka") == 0
    assert "1 token revoked" in capsys.readouterr().out
    r = await web.client.get("/api/alerts", headers=bearer)
    assert r.status_code == 401
    assert await cli("partner", "--database", web.db_url, "disable", "srilanka") == 2
    assert "already disabled" in capsys.readouterr().err
    assert await cli("partner", "--database", web.db_url, "disable", "nobody") == 2
    assert "no partner 'nobody'" in capsys.readouterr().err
    assert await cli("partner", "--database", web.db_url, "list") == 0
    assert "disabled" in capsys.readouterr().out.splitlines()[1]
    actions = [r[0] for r in await web.sql("SELECT action FROM audit_log ORDER BY id")]
    assert actions == [
        "partner.add",
        "token.create",
        "partner.add",
        "token.create",
        "partner.disable",
    ]


async def test_partner_public_key_by_cli_and_admin_api(web: Web, tmp_path, capsys):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mda.exchange.signing import fingerprint, public_pem
    from mda.store.partners import partner_by_fingerprint, partner_public_key

    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    pems = []
    for i, k in enumerate(keys):
        pems.append(tmp_path / f"k{i}.pem")
        pems[-1].write_text(public_pem(k))
    fps = [fingerprint(k) for k in keys]

    # add with --key: the fingerprint is printed and listed
    assert await cli("partner", "--database", web.db_url, "add", "srilanka", "--country", "LK",
                     "--key", str(pems[0])) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"public key {fps[0]}" in out and out.strip().splitlines()[-1].startswith("mda_")
    # without a key: said on stderr, listed as "no key"
    assert await cli("partner", "--database", web.db_url, "add", "maldives", "--country", "MV") == 0
    assert "no public key yet" in capsys.readouterr().err
    assert await cli("partner", "--database", web.db_url, "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert fps[0] in next(line for line in listing if line.startswith("srilanka"))
    assert "no key" in next(line for line in listing if line.startswith("maldives"))

    # mda partner key NAME FILE: put, then another partner's key and junk are refused
    assert await cli("partner", "--database", web.db_url, "key", "maldives", str(pems[1])) == 0
    assert fps[1] in capsys.readouterr().out
    assert await cli("partner", "--database", web.db_url, "key", "maldives", str(pems[0])) == 2
    assert "already another partner's" in capsys.readouterr().err
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert await cli("partner", "--database", web.db_url, "key", "maldives", str(junk)) == 2
    assert "not an Ed25519 public key" in capsys.readouterr().err
    assert await cli("partner", "--database", web.db_url, "key", "nobody", str(pems[2])) == 2
    assert "no partner 'nobody'" in capsys.readouterr().err

    async with await web.conn() as conn:
        assert await partner_public_key(conn, "srilanka") == public_pem(keys[0])
        assert await partner_public_key(conn, "nobody") is None
        assert (await partner_by_fingerprint(conn, fps[1]))["name"] == "maldives"
        assert (await partner_by_fingerprint(conn, fps[1][7:].upper()))["name"] == "maldives"
        assert await partner_by_fingerprint(conn, fps[2]) is None

    # the admin API takes a PEM and answers with the fingerprint
    admin = await web.token("admin")
    r = await web.client.post(
        "/api/partners",
        headers=admin,
        json={"name": "oman", "country": "OM", "public_key": public_pem(keys[2])},
    )
    assert r.status_code == 201, r.text
    assert r.json()["partner"]["key_fingerprint"] == fps[2]
    r = await web.client.post(
        "/api/partners",
        headers=admin,
        json={"name": "qatar", "country": "QA", "public_key": public_pem(keys[0])},
    )
    assert r.status_code == 409 and "already another partner's" in r.text, r.text
    r = await web.client.put(
        "/api/partners/oman/key", headers=admin, json={"public_key": "not a key"}
    )
    assert r.status_code == 422, r.text
    r = await web.client.put(
        "/api/partners/oman/key", headers=admin, json={"public_key": public_pem(keys[0])}
    )
    assert r.status_code == 409, r.text
    r = await web.client.put(
        "/api/partners/nobody/key", headers=admin, json={"public_key": public_pem(keys[2])}
    )
    assert r.status_code == 404, r.text
    new = Ed25519PrivateKey.generate()
    r = await web.client.put(
        "/api/partners/oman/key", headers=admin, json={"public_key": public_pem(new)}
    )
    assert r.status_code == 200, r.text
    r = await web.client.get("/api/partners", headers=admin)
    listed = {p["name"]: p["key_fingerprint"] for p in r.json()["partners"]}
    assert listed == {"maldives": fps[1], "oman": fingerprint(new), "srilanka": fps[0]}
    audited = await web.sql("SELECT action, details FROM audit_log WHERE action = 'partner.key'")
    assert [d["key_fingerprint"] for _, d in audited] == [fps[1], fingerprint(new)]
    assert audited[1][1]["previous"] == fps[2]
