"""A partner's signed extract in (``mda extract import``, ``POST /api/extracts/import``):
installation A exports an alert's extract with the existing exporter, from its own
database and with its own key; B, which holds A's public key as its partner's key, imports
it, finds the partner by the key the bag names, keeps the tracks and the alert as the
extract has them, and takes the same file only once. A tampered ZIP, a wrong key, an
unknown partner and a partner without a key are refused with their reasons, nothing
stored. The web route is for officers, audited; the map reads the imports as GeoJSON."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from datetime import datetime

import psycopg
import pytest
from import_support import FIXES, export_from_a

from mda.exchange.imports import ImportRefused, import_extract
from mda.exchange.signing import partner_key, public_pem
from mda.store.migrate import upgrade
from mda.store.partners import add_partner

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def exported(timescale_server, tmp_path_factory):
    return export_from_a(timescale_server, tmp_path_factory.mktemp("installation-a"))


def _tracks_rows(path) -> list[list[str]]:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/data/tracks.csv"))
        return list(csv.reader(io.StringIO(zf.read(name).decode())))[1:]


def _rezip(src, dst, change) -> None:
    """A copy of the ZIP with one member's bytes changed by ``change(name, data)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, change(info.filename, zin.read(info.filename)))


def _mda(*args: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=120,
    )


async def _b(db_url: str) -> psycopg.AsyncConnection:
    with psycopg.connect(db_url) as conn:
        upgrade(conn)
    return await psycopg.AsyncConnection.connect(db_url, autocommit=True, options="-c TimeZone=UTC")


async def test_b_imports_as_extract_by_its_key_once(exported, db_url, tmp_path):
    async with await _b(db_url) as c:
        await add_partner(
            c, "colombo", "LK", automatic=False, public_key=partner_key(exported.public_pem)
        )
    env = {"MDA_DATA_DIR": str(tmp_path / "b-data")}
    first = _mda("extract", "import", str(exported.zip), "--database", db_url, env=env)
    assert first.returncode == 0, first.stderr
    assert "imported extract" in first.stdout and "partner colombo (LK)" in first.stdout
    assert f"{2 * FIXES:,} positions of 2 vessels, 1 alert(s)" in first.stdout

    async with await _b(db_url) as c:
        cur = await c.execute(
            "SELECT id, partner, sha256, imported_by, kind FROM imported_extracts"
        )
        [(xid, partner, sha, by, kind)] = await cur.fetchall()
        assert (partner, by, kind) == ("colombo", "cli", "alert")
        cur = await c.execute(
            "SELECT mmsi, time, lat, lon, sog FROM imported_extract_positions "
            "WHERE extract_id = %s ORDER BY mmsi, time",
            (xid,),
        )
        stored = await cur.fetchall()
        cur = await c.execute(
            "SELECT remote_id, kind, severity, mmsi, other_mmsi, text FROM imported_extract_alerts"
        )
        alerts = await cur.fetchall()
        cur = await c.execute(
            "SELECT actor, target, details->>'sha256', details->>'system_user' FROM audit_log "
            "WHERE action = 'extract.import'"
        )
        audit = await cur.fetchall()
    rows = _tracks_rows(exported.zip)
    assert len(stored) == len(rows) == exported.positions == 2 * FIXES
    from_csv = sorted(
        (int(r[0]), datetime.fromisoformat(r[1]), float(r[2]), float(r[3]), float(r[4]))
        for r in rows
    )
    assert [(m, t, la, lo) for m, t, la, lo, _ in stored] == [x[:4] for x in from_csv]
    assert [s for *_, s in stored] == pytest.approx([x[4] for x in from_csv])
    assert alerts == [
        (
            exported.alert_id,
            "encounter",
            "high",
            *exported.mmsis,
            "two vessels alongside for 20 min",
        )
    ]
    assert audit == [("cli", f"imported-extract:{xid}", sha, audit[0][3])] and audit[0][3]

    again = _mda("extract", "import", str(exported.zip), "--database", db_url, env=env)
    assert again.returncode == 0, again.stderr
    assert "already imported" in again.stdout and f"imported extract {xid}" in again.stdout
    async with await _b(db_url) as c:
        cur = await c.execute(
            "SELECT (SELECT count(*) FROM imported_extracts), "
            "(SELECT count(*) FROM imported_extract_positions), "
            "(SELECT count(*) FROM audit_log WHERE action = 'extract.import')"
        )
        assert await cur.fetchone() == (1, 2 * FIXES, 1)


async def test_tampered_wrong_key_unknown_partner_and_no_key_are_refused(
    exported, db_url, tmp_path
):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = public_pem(Ed25519PrivateKey.generate())
    tampered = tmp_path / "tampered.zip"
    _rezip(
        exported.zip,
        tampered,
        lambda n, b: b.replace(b",12.0", b",12.5", 1) if n.endswith("/tracks.csv") else b,
    )

    async def refused(c, path, **kw) -> str:
        with pytest.raises(ImportRefused) as e:
            await import_extract(c, path, actor="t", via="test", **kw)
        return str(e.value)

    async with await _b(db_url) as c:
        # no partner has A's key yet
        why = await refused(c, exported.zip)
        assert "unknown partner" in why and "SHA256:" in why
        why = await refused(c, exported.zip, partner="nosuch")
        assert "unknown partner 'nosuch'" in why
        await add_partner(c, "keyless", "MV", automatic=False)
        why = await refused(c, exported.zip, partner="keyless")
        assert "no public key" in why
        await add_partner(c, "impostor", "XX", automatic=False, public_key=partner_key(other))
        why = await refused(c, exported.zip, partner="impostor")
        assert "wrong key" in why
        await add_partner(
            c, "colombo", "LK", automatic=False, public_key=partner_key(exported.public_pem)
        )
        why = await refused(c, tampered)
        assert "tracks.csv: SHA-256 does not match manifest-sha256.txt" in why
        not_zip = tmp_path / "notes.zip"
        not_zip.write_text("not a zip")
        assert "not a readable ZIP file" in await refused(c, not_zip, partner="colombo")
        cur = await c.execute(
            "SELECT (SELECT count(*) FROM imported_extracts), "
            "(SELECT count(*) FROM imported_extract_positions)"
        )
        assert await cur.fetchone() == (0, 0)

    # the command: one line, exit status 1
    env = {"MDA_DATA_DIR": str(tmp_path / "b-data")}
    r = _mda("extract", "import", str(tampered), "--database", db_url, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("REFUSED:") and len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ the web


async def test_officers_import_through_the_web_audited_and_the_map_reads_it(
    exported, web, tmp_path
):
    async with await web.conn() as c:
        await add_partner(
            c, "colombo", "LK", automatic=False, public_key=partner_key(exported.public_pem)
        )
    officer = await web.token("officer", owner="watch-b")
    viewer = await web.token("viewer", owner="looker")
    data = exported.zip.read_bytes()
    files = {"file": (exported.zip.name, data, "application/zip")}

    r = await web.client.post("/api/extracts/import", files=files, headers=viewer)
    assert r.status_code == 403
    r = await web.client.post("/api/extracts/import", files=files, headers=officer)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False and body["partner"] == "colombo"
    assert body["positions"] == 2 * FIXES and body["vessels"] == 2 and body["alerts"] == 1
    r = await web.client.post("/api/extracts/import", files=files, headers=officer)
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert "already imported" in r.json()["message"]

    bad = tmp_path / "bad.zip"
    _rezip(
        exported.zip,
        bad,
        lambda n, b: (
            b.replace(b"MRCC Colombo", b"MRCC Kolombo") if n.endswith("bag-info.txt") else b
        ),
    )
    r = await web.client.post(
        "/api/extracts/import",
        files={"file": ("bad.zip", bad.read_bytes(), "application/zip")},
        headers=officer,
    )
    assert r.status_code == 422, r.text
    assert (
        "bag-info.txt: SHA-256 does not match tagmanifest-sha256.txt"
        in r.json()["error"]["message"]
    )
    audit = await web.sql(
        "SELECT actor, role, action, details->>'file' FROM audit_log "
        "WHERE action LIKE 'extract.import%%' ORDER BY id"
    )
    assert audit == [
        ("watch-b", "officer", "extract.import", exported.zip.name),
        ("watch-b", "officer", "extract.import.refused", "bad.zip"),
    ]

    # bigger than http_max_body_bytes (1 MiB): this route takes up to extract_import_max_bytes
    big = {"file": ("big.zip", b"\0" * (2 << 20), "application/zip")}
    r = await web.client.post("/api/extracts/import", files=big, headers=officer)
    assert r.status_code == 422 and "not a readable ZIP file" in r.json()["error"]["message"]
    r = await web.client.post("/api/alerts/1/ack", content=b"\0" * (2 << 20), headers=officer)
    assert r.status_code == 413  # the others still refuse it

    listed = (await web.client.get("/api/extracts/imported", headers=viewer)).json()
    [item] = listed["imports"]
    assert (item["partner"], item["country"], item["alerts"]) == ("colombo", "LK", 1)
    assert item["start"].endswith("Z") and item["end"] > item["start"]
    r = await web.client.get(f"/api/extracts/imported/{item['id']}", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    geo = r.json()
    tracks = [f for f in geo["features"] if f["properties"]["role"] == "track"]
    alerts = [f for f in geo["features"] if f["properties"]["role"] == "alert"]
    assert sorted(f["properties"]["mmsi"] for f in tracks) == sorted(exported.mmsis)
    assert all(f["geometry"]["type"] == "LineString" for f in tracks)
    assert {f["properties"]["name"] for f in tracks} == {"COLOMBO TRADER", "NIGHT HERON"}
    assert sum(len(f["geometry"]["coordinates"]) for f in tracks) == 2 * FIXES
    assert alerts[0]["geometry"]["coordinates"] == [70.08, 12.04]
    assert alerts[0]["properties"]["partner"] == "colombo"
    r = await web.client.get("/api/extracts/imported/999", headers=viewer)
    assert r.status_code == 404
