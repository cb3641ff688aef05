"""Incident extracts (``exchange/extract.py``) on real TimescaleDB: a simulated scenario run
through the service, then extracts of its alerts checked the way a partner would: the
BagIt bag, the signature, every byte of every file, the CISE XML against the shipped
schemas, the Moving Features JSON, the raw sentences against the archive; the map in
Chromium with every off-loopback request aborted (screenshot ``docs/img/extract-map.png``);
``mda extract`` and ``mda keys`` as commands, and ``verify``'s one-line failures.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mda.analytics import KIND_TABLE
from mda.exchange import extract
from mda.exchange._formats import CiseAnomaly, Fix
from mda.exchange.signing import fingerprint, load_or_create_key, parse_public_key, public_pem
from mda.exchange.verify import VerifyError, verify_extract

REPO = Path(__file__).resolve().parent.parent
DOCS_IMG = REPO / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The mapping of our kinds to CISE anomaly types, written out here on purpose.
CISE_TYPES = {
    "ais_gap": "WithoutAISTransmission",
    "position_jump": "PerformingAISSpoofing",
    "on_land": "PerformingAISSpoofing",
    "identity_clash": "PerformingAISSpoofing",
    "lane_deviation": "VesselOutOfTrafficLanes",
    "wrong_way": "VesselOutOfTrafficLanes",
}


@__import__("functools").lru_cache(maxsize=1)
def _schema():
    import xmlschema

    from mda.exchange._formats import CISE_SCHEMA_FILES

    folder = resources.files("mda.exchange").joinpath("cise", "data-model")
    return xmlschema.XMLSchema([str(folder.joinpath(*f.split("/"))) for f in CISE_SCHEMA_FILES])


# ------------------------------------------------------------------ the scenario


@pytest.fixture(scope="module")
def scenario(timescale_server, tmp_path_factory):
    """A fresh database with a simulated scenario run through the service (positions, raw
    archive, alerts), for the whole module."""
    from mda.service import Service
    from mda.settings import SourceSpec, load_settings
    from mda.simulator import output_paths, simulate

    root = tmp_path_factory.mktemp("extract")
    log = root / "traffic.nmea"
    start = (datetime.now(UTC) - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    simulate(log, hours=2.5, vessels=20, seed=5, start=start.isoformat())
    nmea, _truth, zones = output_paths(log)
    name = f"mda_test_extract_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(timescale_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", timescale_server, count=1)
    try:
        settings = load_settings(environ={}).replace(data_dir=str(root / "data"))
        service = Service(
            settings, url, [SourceSpec(str(nmea), "sim")], zone_files=[str(zones)], web=False
        )
        asyncio.run(service.run())
        with psycopg.connect(url) as conn:
            alerts = conn.execute(
                "SELECT id, kind, mmsi, other_mmsi FROM alerts WHERE severity <> 'info' ORDER BY id"
            ).fetchall()
        assert alerts, "the scenario raised no alert"
        yield {"url": url, "root": root, "alerts": alerts, "settings": settings}
    finally:
        with psycopg.connect(timescale_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _options(root: Path, **kw) -> extract.ExtractOptions:
    values = {
        "organisation": "Indian Ocean Test Coast Guard",
        "caveat": "RESTRICTED - coast guard partners only",
        "window_s": 6 * 3600.0,
        "max_positions": 1_000_000,
        "data_path": root / "data",
        **kw,
    }
    return extract.ExtractOptions(**values)


MAKER = extract.Maker("watch1", "officer", "session")


def _alert_extract(scenario, alert_id: int, target: Path, **kw) -> extract.Extract:
    async def go():
        async with await psycopg.AsyncConnection.connect(
            scenario["url"], autocommit=True, options="-c TimeZone=UTC"
        ) as conn:
            return await extract.alert_extract(
                conn, alert_id, _options(scenario["root"]), MAKER, target, **kw
            )

    return asyncio.run(go())


def _pick(scenario, kinds=("encounter", "identity_clash")) -> int:
    """An alert about two vessels when the scenario has one, else the first."""
    rows = scenario["alerts"]
    for kind in kinds:
        for r in rows:
            if r[1] == kind and r[3] is not None:
                return r[0]
    return rows[0][0]


@pytest.fixture(scope="module")
def made(scenario):
    """One extract of an alert about two vessels (an encounter or an identity clash)."""
    alert_id = _pick(scenario)
    target = scenario["root"] / "extract.zip"
    result = _alert_extract(scenario, alert_id, target)
    zf = zipfile.ZipFile(target)
    files = {n: zf.read(n) for n in zf.namelist()}
    bag = result.name
    return {
        "result": result,
        "zip": target,
        "files": files,
        "bag": bag,
        "data": {n.split("/data/", 1)[1]: b for n, b in files.items() if "/data/" in n},
        "key": load_or_create_key(scenario["root"] / "data"),
        "alert": alert_id,
    }


# ------------------------------------------------------------------ the bag and signature


def test_the_extract_is_a_valid_bagit_bag_with_a_signature_that_verifies(made, tmp_path):
    import bagit

    bag, files = made["bag"], made["files"]
    assert sorted(n for n in files if "/data/" not in n) == sorted(
        [
            f"{bag}/bag-info.txt",
            f"{bag}/bagit.txt",
            f"{bag}/manifest-sha256.txt",
            f"{bag}/tagmanifest-sha256.txt",
            f"{bag}.sig",
        ]
    )
    assert sorted(made["data"]) == [
        "incident.cise.xml",
        "incident.json",
        "map.html",
        "raw.nmea",
        "tracks.csv",
        "tracks.kml",
        "tracks.mf.json",
    ]
    assert files[f"{bag}/bagit.txt"].startswith(b"BagIt-Version: 1.0\n")
    with zipfile.ZipFile(made["zip"]) as zf:
        zf.extractall(tmp_path)
    b = bagit.Bag(str(tmp_path / bag))
    b.validate()
    assert b.algorithms == ["sha256"]
    info = b.info
    assert info["Source-Organization"] == "Indian Ocean Test Coast Guard"
    assert info["External-Identifier"] == f"mda-alert-{made['alert']}"
    assert info["Handling-Caveat"] == "RESTRICTED - coast guard partners only"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", info["Bagging-Date"])
    assert info["Extract-Window-Start"] < info["Extract-Window-End"]
    assert info["Signing-Key-Fingerprint"] == fingerprint(made["key"])
    ok = verify_extract(made["zip"], made["key"].public_key())
    assert ok.bag == bag and ok.files == 7
    # The signature is a plain Ed25519 signature of the tag manifest: openssl-checkable.
    made["key"].public_key().verify(files[f"{bag}.sig"], files[f"{bag}/tagmanifest-sha256.txt"])
    assert (
        made["result"].sha256 == __import__("hashlib").sha256(made["zip"].read_bytes()).hexdigest()
    )


def _rezip(src: Path, dst: Path, change=None, drop=(), add=()) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info.filename)
            if change and info.filename == change[0]:
                data = change[1](data)
            zout.writestr(info, data)
        for name, data in add:
            zout.writestr(name, data)


def _flip(data: bytes, at: int | None = None) -> bytes:
    i = len(data) // 2 if at is None else at
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def test_changing_any_byte_of_any_file_fails_naming_that_file(made, tmp_path):
    key = made["key"].public_key()
    for name, data in made["files"].items():
        # a byte in the middle, and the first and last byte, of every file in the ZIP
        for at in sorted({0, len(data) // 2, len(data) - 1}):
            bad = tmp_path / "bad.zip"
            _rezip(made["zip"], bad, change=(name, lambda d, at=at: _flip(d, at)))
            with pytest.raises(VerifyError) as e:
                verify_extract(bad, key)
            assert e.value.file == name, (name, at, str(e.value))
            assert name in str(e.value)


def test_verify_refuses_a_wrong_key_a_missing_signature_and_paths_outside_the_bag(made, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = made["key"].public_key()
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(VerifyError, match="wrong key"):
        verify_extract(made["zip"], other)
    nosig = tmp_path / "nosig.zip"
    _rezip(made["zip"], nosig, drop={made["bag"] + ".sig"})
    with pytest.raises(VerifyError, match="missing signature"):
        verify_extract(nosig, key)
    for evil in ("../evil.txt", "/etc/evil", f"{made['bag']}/../../evil", "C:/evil"):
        bad = tmp_path / "evil.zip"
        _rezip(made["zip"], bad, add=[(evil, b"x")])
        with pytest.raises(VerifyError, match="outside the bag"):
            verify_extract(bad, key)
    stray = tmp_path / "stray.zip"
    _rezip(made["zip"], stray, add=[(f"{made['bag']}/data/extra.txt", b"x")])
    with pytest.raises(VerifyError, match="in no manifest"):
        verify_extract(stray, key)
    with pytest.raises(VerifyError, match="not a readable ZIP"):
        p = tmp_path / "not.zip"
        p.write_bytes(b"hello")
        verify_extract(p, key)


# ------------------------------------------------------------------ the payload


def test_incident_json_names_the_alert_its_rule_values_vessels_and_maker(made):
    inc = json.loads(made["data"]["incident.json"])
    a = inc["alert"]
    assert a["id"] == made["alert"]
    assert a["rule"] and a["text"] and a["measured"]
    assert isinstance(a["thresholds"], dict)
    assert a["cise_anomaly_type"] == CISE_TYPES.get(a["kind"], "Other")
    mmsis = [v["mmsi"] for v in inc["vessels"]]
    assert mmsis == [m for m in (a["mmsi"], a["other_mmsi"]) if m is not None]
    assert all(v["positions_in_extract"] > 0 for v in inc["vessels"])
    assert all("name" in v and "callsign" in v and "imo" in v for v in inc["vessels"])
    assert inc["extract"]["made_by"] == {"name": "watch1", "role": "officer", "via": "session"}
    assert inc["extract"]["handling_caveat"] == "RESTRICTED - coast guard partners only"
    start = datetime.fromisoformat(inc["extract"]["window"]["start"].replace("Z", "+00:00"))
    assert start == datetime.fromisoformat(a["start"]) - timedelta(hours=6)
    assert inc["evidence"]["raw_sentences"] > 0 and "raw_note" not in inc["evidence"]


def test_the_cise_xml_validates_against_the_shipped_schemas(made):
    from xml.etree import ElementTree as ET

    xml = made["data"]["incident.cise.xml"]
    _schema().validate(io.BytesIO(xml))
    root = ET.fromstring(xml)
    inc = json.loads(made["data"]["incident.json"])
    assert root.tag == "Anomaly"
    assert root.findtext("AnomalyType") == CISE_TYPES.get(inc["alert"]["kind"], "Other")
    vessels = root.findall("InvolvedObjectRel/Object")
    assert [int(v.findtext("MMSI")) for v in vessels] == [v["mmsi"] for v in inc["vessels"]]
    fixes = sum(len(v.findall("LocationRel")) for v in vessels)
    assert fixes == inc["evidence"]["positions"]
    for loc in vessels[0].findall("LocationRel"):
        assert loc.findtext("SensorType") == "AutomaticIdentificationSystem"
    doc = root.find("DocumentRel/Document")
    assert doc.findtext("Hash") == inc["evidence"]["raw_sha256"]


@pytest.mark.parametrize("kind", [k.kind for k in KIND_TABLE])
def test_every_kind_maps_to_its_cise_anomaly_type_and_validates(kind):
    from xml.etree import ElementTree as ET

    t = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
    info = {k.kind: k for k in KIND_TABLE}[kind]
    out = io.StringIO()
    w = CiseAnomaly(
        out,
        identity=f"test:{kind}",
        organisation="Test <&> Guard",
        created=t,
        anomaly_type=info.cise,
        description=f"mda kind {kind} ({info.label}): \x01 text <b>",
        caveat="RESTRICTED",
        start=t,
        end=None,
        lat=12.5,
        lon=70.25,
    )
    fix = Fix(t, 419000001, 12.5, 70.25, 11.5, 90.0, 91, 0, 1, "sim")
    w.write(
        [fix, fix._replace(time=t + timedelta(seconds=10), sog=None, heading=None)],
        {
            "mmsi": 419000001,
            "name": "A & B",
            "imo": 9074729,
            "ship_type": 70,
            "to_bow": 100,
            "to_stern": 20,
            "to_port": 10,
            "to_starboard": 12,
            "draught": 8.5,
            "callsign": "AB<1>",
        },
        (t, t),
    )
    w.close(
        [
            {"title": "raw.nmea", "path": "raw.nmea", "sha256": "ab" * 32, "description": "x"},
            {  # an extract whose vessels also came from CSV or JSON feeds
                "title": "raw-decoded.jsonl",
                "path": "raw-decoded.jsonl",
                "sha256": "cd" * 32,
                "description": "y",
            },
        ]
    )
    _schema().validate(io.StringIO(out.getvalue()))
    root = ET.fromstring(out.getvalue())
    assert root.findtext("AnomalyType") == CISE_TYPES.get(kind, "Other")
    if CISE_TYPES.get(kind) is None:  # Other: our kind is in the description
        assert kind in root.findtext("Metadata/Description")


def test_tracks_mf_json_is_geojson_with_one_datetime_per_coordinate(made):
    fc = json.loads(made["data"]["tracks.mf.json"])
    assert fc["type"] == "FeatureCollection" and fc["features"]
    for f in fc["features"]:
        assert f["type"] == "Feature"
        g = f["geometry"]
        coords = g["coordinates"] if g["type"] == "LineString" else [g["coordinates"]]
        times = f["properties"]["datetimes"]
        assert len(times) == len(coords) >= 1
        assert times == sorted(set(times))  # RFC 3339 in UTC: increasing, no repeats
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in coords)
    rows = made["data"]["tracks.csv"].decode().splitlines()
    inc = json.loads(made["data"]["incident.json"])
    assert rows[0].startswith("mmsi,time,lat,lon") and len(rows) - 1 == inc["evidence"]["positions"]
    kml = made["data"]["tracks.kml"].decode()
    from xml.etree import ElementTree as ET

    root = ET.fromstring(kml)
    gx = "{http://www.google.com/kml/ext/2.2}"
    tracks = root.findall(f".//{gx}Track")
    assert len(tracks) == len(fc["features"])
    for t in tracks:
        assert len(t.findall("{http://www.opengis.net/kml/2.2}when")) == len(
            t.findall(f"{gx}coord")
        )


def test_raw_nmea_holds_exactly_the_archived_lines_of_those_vessels_in_the_window(made, scenario):
    inc = json.loads(made["data"]["incident.json"])
    mmsis = [v["mmsi"] for v in inc["vessels"]]
    w = inc["extract"]["window"]
    with psycopg.connect(scenario["url"]) as conn:
        rows = conn.execute(
            "SELECT line FROM raw_sentences WHERE mmsi = ANY(%s) AND time BETWEEN %s AND %s "
            "ORDER BY time",
            (mmsis, w["start"], w["end"]),
        ).fetchall()
        others = conn.execute(
            "SELECT count(*) FROM raw_sentences WHERE NOT (mmsi = ANY(%s))", (mmsis,)
        ).fetchone()[0]
    assert rows and others > 0  # there was other traffic to leave out
    raw = made["data"]["raw.nmea"]
    expected = "".join(r[0] + "\n" for r in rows).encode()
    assert Counter(raw.splitlines(keepends=True)) == Counter(expected.splitlines(keepends=True))
    assert len(raw) == len(expected)
    assert inc["evidence"]["raw_sentences"] == len(rows)


def test_two_extracts_of_one_alert_differ_only_in_creation_time_and_signature(
    scenario, made, tmp_path
):
    t1 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    t2 = datetime(2030, 6, 7, 8, 9, 10, tzinfo=UTC)
    a = _alert_extract(scenario, made["alert"], tmp_path / "a.zip", now=t1)
    b = _alert_extract(scenario, made["alert"], tmp_path / "b.zip", now=t2)
    za, zb = zipfile.ZipFile(a.path), zipfile.ZipFile(b.path)
    assert za.namelist() == zb.namelist()

    def stamp(t: datetime) -> list[str]:
        return [t.strftime("%Y-%m-%dT%H:%M:%SZ"), t.strftime("%Y-%m-%d")]

    differ = []
    for name in za.namelist():
        x, y = za.read(name), zb.read(name)
        assert za.getinfo(name).date_time[:5] == t1.timetuple()[:5]  # ZIP: 2 s steps
        if x == y:
            continue
        differ.append(name.split("/")[-1])
        if name.endswith((".sig", "manifest-sha256.txt")):
            continue  # they follow from the files that hold the time
        tx, ty = x.decode(), y.decode()
        for s1, s2 in zip(stamp(t1), stamp(t2)):
            ty = ty.replace(s2, s1)
        assert tx == ty, name
    assert sorted(differ) == sorted(
        [
            "bag-info.txt",
            "incident.json",
            "incident.cise.xml",
            "manifest-sha256.txt",
            "tagmanifest-sha256.txt",
            f"{a.name}.sig",
        ]
    )


def test_an_extract_over_the_positions_limit_is_refused_with_the_numbers(scenario, tmp_path):
    async def go():
        async with await psycopg.AsyncConnection.connect(scenario["url"], autocommit=True) as c:
            return await extract.alert_extract(
                c,
                _pick(scenario),
                _options(scenario["root"], max_positions=10),
                MAKER,
                tmp_path / "x.zip",
            )

    with pytest.raises(extract.ExtractTooLarge) as e:
        asyncio.run(go())
    assert e.value.positions > 10 and e.value.limit == 10
    assert "over the limit of 10" in str(e.value) and "extract_max_positions" in str(e.value)
    assert not (tmp_path / "x.zip").exists()


def test_an_area_extract_holds_what_was_in_the_box(scenario, tmp_path):
    with psycopg.connect(scenario["url"]) as conn:
        lat, lon, t = conn.execute(
            "SELECT lat, lon, time FROM positions ORDER BY time, mmsi LIMIT 1 OFFSET 5000"
        ).fetchone()
    area = extract.parse_area(f"{lat - 1},{lon - 1},{lat + 1},{lon + 1}")

    async def go():
        async with await psycopg.AsyncConnection.connect(scenario["url"], autocommit=True) as c:
            return await extract.area_extract(
                c,
                area,
                t - timedelta(minutes=30),
                t + timedelta(minutes=30),
                _options(scenario["root"]),
                MAKER,
                tmp_path / "area.zip",
            )

    result = asyncio.run(go())
    key = load_or_create_key(scenario["root"] / "data").public_key()
    verify_extract(result.path, key)
    zf = zipfile.ZipFile(result.path)
    names = [n.split("/data/", 1)[1] for n in zf.namelist() if "/data/" in n]
    assert "incident.cise.xml" not in names and "tracks.mf.json" in names
    inc = json.loads(zf.read(f"{result.name}/data/incident.json"))
    assert "alert" not in inc and inc["area"]["south"] == pytest.approx(lat - 1)
    fc = json.loads(zf.read(f"{result.name}/data/tracks.mf.json"))
    assert fc["features"]
    for f in fc["features"]:
        g = f["geometry"]
        for x, y in g["coordinates"] if g["type"] == "LineString" else [g["coordinates"]]:
            assert lat - 1 <= y <= lat + 1 and lon - 1 <= x <= lon + 1
    assert result.positions == inc["evidence"]["positions"] > 0


# ------------------------------------------------------------------ the map in a browser


def test_the_extract_map_opens_offline_in_chromium_and_shows_the_tracks(made, tmp_path):
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "map.html"
    page_path.write_bytes(made["data"]["map.html"])
    aborted: list[str] = []
    errors: list[str] = []
    loopback = re.compile(r"^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/")

    def route(r):
        u = r.request.url
        if u.startswith(("file://", "data:")) or loopback.match(u):
            return r.continue_()
        aborted.append(u)
        return r.abort()

    inc = json.loads(made["data"]["incident.json"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
            page.route("**/*", route)
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.goto(page_path.as_uri())
            page.wait_for_function("document.querySelectorAll('.leaflet-interactive').length > 0")
            page.wait_for_timeout(300)
            state = page.evaluate("""() => {
                const map = window[document.querySelector('.folium-map').id];
                let lines = 0, points = 0;
                map.eachLayer(l => {
                    if (l instanceof L.Polyline && !(l instanceof L.Polygon)) {
                        const ll = l.getLatLngs().flat(2); if (ll.length > 1) lines++; points += ll.length;
                    }
                });
                return {lines, points, labels: [...document.querySelectorAll('.mda-time')].map(e => e.innerText),
                        legend: document.querySelector('.mda-legend').innerText};
            }""")
            if os.environ.get("MDA_DOCS_IMG") == "1":  # remade on request only
                DOCS_IMG.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(DOCS_IMG / "extract-map.png"))
        finally:
            browser.close()
    assert aborted == [] and errors == []
    assert state["lines"] >= len(inc["vessels"]) and state["points"] > 20
    assert state["labels"] and all(
        re.fullmatch(r"\d\d:\d\dZ|\d\d-\d\d \d\d:\d\dZ", x) for x in state["labels"]
    )
    assert "raw.nmea" in state["legend"] and inc["evidence"]["raw_sha256"] in state["legend"]
    assert f"alert {made['alert']}" in state["legend"]


# ------------------------------------------------------------------ the commands


def _mda(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}
    return subprocess.run(
        [sys.executable, "-m", "mda", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=300,
        **kw,
    )


def test_keys_show_prints_the_public_key_made_on_first_use_readable_by_the_service_only(tmp_path):
    env = {"MDA_DATA_DIR": str(tmp_path / "data")}
    first = _mda("keys", "show", env=env)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "data" / "extract-signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "PRIVATE" not in first.stdout
    public = parse_public_key(first.stdout)
    assert f"fingerprint: {fingerprint(public)}" in first.stdout
    again = _mda("keys", "show", env=env)
    assert again.stdout == first.stdout  # made once, kept
    # openssl reads the printed key as it is, and computes the same fingerprint
    if shutil.which("openssl"):
        pem = tmp_path / "mda.pub"
        pem.write_text(first.stdout)
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(pem), "-outform", "DER"], capture_output=True
        )
        assert der.returncode == 0
        assert f"SHA256:{__import__('hashlib').sha256(der.stdout).hexdigest()}" in first.stdout


def test_mda_extract_and_verify_as_commands(scenario, made, tmp_path):
    env = {
        "MDA_DATABASE_URL": scenario["url"],
        "MDA_DATA_DIR": str(scenario["root"] / "data"),
        "MDA_ORGANISATION": "Test Guard",
    }
    out = tmp_path / "cli.zip"
    run = _mda("extract", str(made["alert"]), "-o", str(out), env=env)
    assert run.returncode == 0, run.stderr
    assert "SHA-256" in run.stdout and out.exists()
    with psycopg.connect(scenario["url"]) as conn:
        row = conn.execute(
            "SELECT actor, via, details FROM audit_log WHERE action = 'extract.alert' "
            "AND target = %s ORDER BY id DESC LIMIT 1",
            (f"alert:{made['alert']}",),
        ).fetchone()
    assert row[0] == "cli" and row[1] == "cli"
    assert row[2]["sha256"] == __import__("hashlib").sha256(out.read_bytes()).hexdigest()
    assert row[2]["sha256"] in run.stdout

    key = tmp_path / "partner.pub"
    key.write_text(_mda("keys", "show", env=env).stdout)
    ok = _mda("extract", "verify", str(out), "--key", str(key))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK ") and "Source-Organization: Test Guard" in ok.stdout
    # the key alone, base64 of its 32 bytes, also does
    raw = (
        __import__("base64")
        .b64encode(parse_public_key(key.read_text()).public_bytes_raw())
        .decode()
    )
    assert _mda("extract", "verify", str(out), "--key", raw).returncode == 0

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    wrong = tmp_path / "wrong.pub"
    wrong.write_text(public_pem(Ed25519PrivateKey.generate()))
    tampered = tmp_path / "tampered.zip"
    _rezip(out, tampered, change=(f"{made['bag']}/data/tracks.csv", _flip))
    nosig = tmp_path / "nosig.zip"
    _rezip(out, nosig, drop={made["bag"] + ".sig"})
    outside = tmp_path / "outside.zip"
    _rezip(out, outside, add=[("../../etc/cron.d/evil", b"* * * * * root true\n")])
    flipped = tmp_path / "flipped.zip"
    data = bytearray(out.read_bytes())
    data[len(data) // 3] ^= 0xFF
    flipped.write_bytes(bytes(data))
    cases = {
        "tampered": (tampered, key, f"{made['bag']}/data/tracks.csv"),
        "no signature": (nosig, key, "missing signature"),
        "wrong key": (out, wrong, "wrong key"),
        "outside": (outside, key, "outside the bag"),
        "flipped": (flipped, key, ""),
        "no file": (tmp_path / "none.zip", key, "no such file"),
    }
    for what, (zpath, kpath, words) in cases.items():
        r = _mda("extract", "verify", str(zpath), "--key", str(kpath))
        assert r.returncode != 0, what
        assert "Traceback" not in r.stderr, (what, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (what, r.stderr)
        assert r.stdout == "", what

    bad = _mda("extract", "999999999", "-o", str(tmp_path / "none.zip"), env=env)
    assert bad.returncode == 2 and "alert 999999999 not found" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "none.zip").exists()


def test_mda_extract_of_an_area_refuses_a_big_one_with_the_numbers(scenario, tmp_path):
    env = {
        "MDA_DATABASE_URL": scenario["url"],
        "MDA_DATA_DIR": str(scenario["root"] / "data"),
        "MDA_EXTRACT_MAX_POSITIONS": "100",
    }
    now = datetime.now(UTC)
    args = [
        "--area=-40,20,30,120",
        "--from",
        (now - timedelta(days=1)).isoformat(),
        "--to",
        now.isoformat(),
        "-o",
        str(tmp_path / "big.zip"),
    ]
    r = _mda("extract", *args, env=env)
    assert r.returncode == 2, r.stderr
    assert re.search(r"would hold [\d,]+ positions of \d+ vessels, over the limit of 100", r.stderr)
    small = _mda("extract", *args, env={**env, "MDA_EXTRACT_MAX_POSITIONS": "1000000"})
    assert small.returncode == 0, small.stderr
    assert (tmp_path / "big.zip").exists()


# ------------------------------------------------------------------ decoded feeds' records


def test_positions_from_csv_feeds_go_to_raw_decoded_jsonl_and_raw_nmea_keeps_only_nmea(
    db_url, tmp_path
):
    """The same traffic as NMEA (with CRLF line ends, as receivers send it) and as a Danish
    CSV archive: raw.nmea holds exactly the archived sentences, byte for byte, and nothing
    else; the CSV rows are in raw-decoded.jsonl, named in incident.json and signed."""
    derived = REPO / "tests" / "data" / "derived"
    crlf = tmp_path / "norway.nmea"
    crlf.write_bytes((derived / "norway.nmea").read_bytes().replace(b"\n", b"\r\n"))
    for src, name in ((crlf, "rx"), (derived / "norway.dma.csv", "dump")):
        r = _mda("ingest", str(src), "--database", db_url, "--keep", "--name", name)
        assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as conn:
        t0, t1 = conn.execute("SELECT min(time), max(time) FROM positions").fetchone()
        nmea = [
            r[0]
            for r in conn.execute(
                "SELECT line FROM raw_sentences WHERE source LIKE 'rx%'"
            ).fetchall()
        ]
        rows = [
            r[0] for r in conn.execute("SELECT line FROM raw_sentences WHERE source LIKE 'dump%'")
        ]
    assert nmea and rows and all(r.startswith("decoded:csv-dma ") for r in rows)
    assert not any("\r" in line for line in nmea)  # the archive keeps no CR

    async def go():
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
            return await extract.area_extract(
                c,
                extract.parse_area("50,-10,80,40"),
                t0 - timedelta(minutes=1),
                t1 + timedelta(minutes=1),
                _options(tmp_path),
                MAKER,
                tmp_path / "area.zip",
            )

    result = asyncio.run(go())
    verify_extract(result.path, load_or_create_key(tmp_path / "data").public_key())
    zf = zipfile.ZipFile(result.path)
    data = {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n}
    raw = data["raw.nmea"]
    assert b"decoded:" not in raw and b"\r" not in raw
    expected = "".join(line + "\n" for line in nmea).encode()
    assert Counter(raw.splitlines(keepends=True)) == Counter(expected.splitlines(keepends=True))
    assert len(raw) == len(expected)
    records = [json.loads(x) for x in data["raw-decoded.jsonl"].decode().splitlines()]
    assert Counter(f"decoded:{r['format']} {r['record']}" for r in records) == Counter(rows)
    inc = json.loads(data["incident.json"])
    assert "raw-decoded.jsonl" in inc["files"]
    assert inc["evidence"]["raw_decoded_records"] == len(rows)
    assert inc["evidence"]["raw_sentences"] == len(nmea)
    manifest = zf.read(f"{result.name}/manifest-sha256.txt").decode()
    assert "data/raw-decoded.jsonl" in manifest
    # a changed byte in it fails verification, naming the file
    name = f"{result.name}/data/raw-decoded.jsonl"
    _rezip(result.path, tmp_path / "bad.zip", change=(name, _flip))
    with pytest.raises(VerifyError) as e:
        verify_extract(tmp_path / "bad.zip", load_or_create_key(tmp_path / "data").public_key())
    assert e.value.file == name
