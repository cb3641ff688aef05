"""Incident extracts: signed, standard evidence a partner opens offline and loads into its
own systems. The CLI (``mda extract``) and the web (``GET /api/alerts/{id}/extract``) make
the same bag through ``alert_extract`` and ``area_extract``.

The ZIP holds a BagIt bag (RFC 8493, SHA-256 manifests, made by the ``bagit`` package) and
beside it ``<bag>.sig``, the installation's Ed25519 signature of the bag's
``tagmanifest-sha256.txt``. The payload (``data/``):

- ``incident.json``: a readable summary: the alert (rule, thresholds, measured values,
  lifecycle), the vessels with their static data, who made the extract and when;
- ``incident.cise.xml``: the alert as an EU CISE 1.5.3 Anomaly, the vessels' tracks as
  their ``LocationRel`` entries (alert extracts only);
- ``tracks.mf.json``, ``tracks.csv``, ``tracks.kml``: the tracks as OGC Moving Features
  JSON trajectories, every fix, KML ``gx:Track``;
- ``raw.nmea``: the archived sentences of those vessels in the window, byte for byte as
  the raw archive holds them (LF after each);
- ``raw-decoded.jsonl`` (only when there are some): the archived decoded records (CSV
  rows, JSON objects: positions from feeds without a sentence), one JSON object a line;
- ``map.html``: the offline incident map (``report.build_report``): tracks with time
  labels, the alert's place or the area.

Positions and raw sentences stream from the database to files in a working folder under
the data directory (not /tmp, which may be memory): nothing is held whole but one vessel's
track at a time and the map's thinned fixes. An extract over ``max_positions`` positions is
refused with the numbers before anything is read.

Two extracts of one alert made from the same data differ only in their creation time (in
``bag-info.txt``, ``incident.json``, the CISE identifier's ``GeneratedIn`` and the ZIP's
entry dates) and what follows from it (the manifests' lines for those files, the signature).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from mda.analytics import KIND_INFO
from mda.store import extracts as db
from mda.store.extracts import Area

from . import signing
from ._formats import CiseAnomaly, CsvTracks, Fix, KmlTracks, MfJsonTracks, rfc3339
from .errors import ExchangeError
from .verify import FINGERPRINT_FIELD, SIGNATURE_SUFFIX

# The raw archive keeps a decoded record (a CSV row, a JSON object) as
# ``decoded:<format> <the record as received>`` (ingest.formats.DECODED_PREFIX).
DECODED_PREFIX = "decoded:"
RAW_DECODED = "raw-decoded.jsonl"

__all__ = [
    "Area",
    "ExtractOptions",
    "Maker",
    "Extract",
    "AlertNotFound",
    "ExtractTooLarge",
    "alert_extract",
    "area_extract",
    "parse_area",
]

MAP_FIXES = 100_000  # the map keeps at most about this many fixes (thinned per vessel)
TIME_LABELS = 8  # about this many time labels along each track on the map


class AlertNotFound(ExchangeError):
    pass


class ExtractTooLarge(ExchangeError):
    """Over the positions limit: ``positions``, ``vessels``, ``limit`` say by how much."""

    def __init__(self, positions: int, vessels: int, limit: int):
        super().__init__(
            f"the extract would hold {positions:,} positions of {vessels:,} vessels, over "
            f"the limit of {limit:,} (setting extract_max_positions): ask for a smaller "
            "area or a shorter time"
        )
        self.positions, self.vessels, self.limit = positions, vessels, limit


@dataclass(frozen=True)
class ExtractOptions:
    """What the settings decide (``extract_*``, ``organisation``, the data directory)."""

    organisation: str
    caveat: str
    window_s: float
    max_positions: int
    data_path: Path

    @classmethod
    def from_settings(cls, settings) -> ExtractOptions:
        return cls(
            organisation=settings.organisation or "mda (organisation not configured)",
            caveat=settings.extract_caveat,
            window_s=settings.extract_window_h * 3600.0,
            max_positions=settings.extract_max_positions,
            data_path=Path(settings.data_path),
        )

    @property
    def work_dir(self) -> Path:
        return self.data_path / "extracts"


@dataclass(frozen=True)
class Maker:
    """Who makes the extract: a user's name and role and how they came (session, token,
    cli)."""

    name: str
    role: str | None
    via: str


@dataclass
class Extract:
    """A finished extract: the ZIP at ``path`` and what the audit log keeps of it."""

    path: Path
    name: str  # the bag's name, also the download's name without .zip
    kind: str  # "alert" or "area"
    target: str  # "alert:42" or "area:s,w,n,e"
    sha256: str
    size: int
    created: datetime
    start: datetime
    end: datetime
    positions: int
    vessels: int
    raw_sentences: int
    fingerprint: str
    extra: dict[str, Any] = field(default_factory=dict)

    def audit_details(self) -> dict[str, Any]:
        return {
            "file": self.name + ".zip",
            "sha256": self.sha256,
            "size": self.size,
            "created": rfc3339(self.created),
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "positions": self.positions,
            "vessels": self.vessels,
            "raw_sentences": self.raw_sentences,
            "signing_key": self.fingerprint,
            **self.extra,
        }


def parse_area(text: str) -> Area:
    """``"lat,lon,lat,lon"`` (two opposite corners) as an Area; ExchangeError if not."""
    try:
        a, b, c, d = (float(x) for x in text.split(","))
    except ValueError:
        raise ExchangeError(
            f"area {text!r}: give two corners as lat,lon,lat,lon (degrees)"
        ) from None
    if not all(math.isfinite(v) for v in (a, b, c, d)):
        raise ExchangeError(f"area {text!r}: not finite numbers")
    if not (-90 <= a <= 90 and -90 <= c <= 90 and -180 <= b <= 180 and -180 <= d <= 180):
        raise ExchangeError(f"area {text!r}: latitudes within ±90, longitudes within ±180")
    if a == c or b == d:
        raise ExchangeError(f"area {text!r}: the corners make no box")
    return Area(min(a, c), min(b, d), max(a, c), max(b, d))


def _version() -> str:
    try:
        from importlib.metadata import version

        return "mda " + version("mda")
    except Exception:  # run from a checkout
        return "mda"


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _iso(text: str | None) -> datetime | None:
    return None if text is None else _utc(datetime.fromisoformat(text))


class _Sink:
    """A payload file being written, hashed as it goes."""

    def __init__(self, path: Path):
        self.path = path
        self.f = open(path, "w", encoding="utf-8", newline="")

    def close(self) -> tuple[str, int]:
        self.f.close()
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest(), self.path.stat().st_size


class _Thinner:
    """The map's fixes: one per vessel per ``step`` seconds (plus each vessel's last), so the
    page stays small whatever the extract holds."""

    def __init__(self, step: float):
        self.step = step
        self.tracks: dict[int, list[tuple[float, float, float]]] = {}

    def add(self, fixes: Sequence[Fix]) -> None:
        kept: list[tuple[float, float, float]] = []
        slot = None
        for p in fixes:
            ts = p.time.timestamp()
            s = int(ts // self.step)
            if s != slot:
                kept.append((ts, p.lat, p.lon))
                slot = s
        last = fixes[-1]
        if kept and kept[-1][0] != last.time.timestamp():
            kept.append((last.time.timestamp(), last.lat, last.lon))
        if kept:
            self.tracks[fixes[0].mmsi] = kept


def _vessel_props(mmsi: int, v: dict | None) -> dict[str, Any]:
    v = v or {}
    return {
        "mmsi": mmsi,
        "name": v.get("name"),
        "callsign": v.get("callsign"),
        "imo": v.get("imo"),
        "ship_type": v.get("ship_type"),
    }


def _vessel_label(mmsi: int, v: dict | None) -> str:
    name = (v or {}).get("name")
    return f"{name} (MMSI {mmsi})" if name else f"MMSI {mmsi}"


def _vessel_summary(mmsi: int, v: dict | None, seen: dict | None) -> dict[str, Any]:
    v = v or {}
    out: dict[str, Any] = {"mmsi": mmsi}
    for k in (
        "name",
        "callsign",
        "imo",
        "ship_type",
        "to_bow",
        "to_stern",
        "to_port",
        "to_starboard",
        "draught",
        "destination",
        "eta",
    ):
        out[k] = v.get(k)
    for k in ("static_time", "first_seen", "last_seen"):
        out[k] = rfc3339(_utc(v[k])) if v.get(k) else None
    if not v:
        out["note"] = "no static data stored for this vessel"
    out["positions_in_extract"] = seen["n"] if seen else 0
    out["first_fix_in_extract"] = rfc3339(seen["first"]) if seen else None
    out["last_fix_in_extract"] = rfc3339(seen["last"]) if seen else None
    return out


async def _write_payload(
    conn: psycopg.AsyncConnection,
    folder: Path,
    *,
    start: datetime,
    end: datetime,
    mmsis: Sequence[int] | None,
    area: Area | None,
    spans: Sequence[tuple[int, datetime, datetime]],
    statics: dict[int, dict],
    positions_total: int,
    collection: dict[str, Any],
    place: dict | None,
    cise: dict | None,
) -> dict[str, Any]:
    """raw.nmea, then the track files (and the CISE anomaly) in one pass over the
    positions. Returns what was written: counts, hashes, per-vessel fixes, map tracks."""
    raw = _Sink(folder / "raw.nmea")
    n_raw = n_decoded = 0
    decoded: _Sink | None = None
    async for line in db.raw_lines(conn, spans):
        if line.startswith(DECODED_PREFIX):  # a CSV row or JSON object: no sentence
            fmt, _, record = line[len(DECODED_PREFIX) :].partition(" ")
            if decoded is None:
                decoded = _Sink(folder / RAW_DECODED)
            decoded.f.write(json.dumps({"format": fmt, "record": record}) + "\n")
            n_decoded += 1
            continue
        raw.f.write(line + "\n")
        n_raw += 1
    raw_sha, raw_size = raw.close()
    decoded_sha = decoded.close()[0] if decoded is not None else None

    step = max(60.0, 60.0 * math.ceil(positions_total / MAP_FIXES))
    thin = _Thinner(step)
    csv_sink, mf_sink, kml_sink = (
        _Sink(folder / n) for n in ("tracks.csv", "tracks.mf.json", "tracks.kml")
    )
    csv_w = CsvTracks(csv_sink.f)
    mf_w = MfJsonTracks(mf_sink.f, collection)
    kml_w = KmlTracks(kml_sink.f, collection["title"], collection["description"], place)
    cise_sink = cise_w = None
    if cise is not None:
        cise_sink = _Sink(folder / "incident.cise.xml")
        cise_w = CiseAnomaly(cise_sink.f, **cise["head"])
    seen: dict[int, dict] = {}

    def flush(fixes: list[Fix]) -> None:
        if not fixes:
            return
        m = fixes[0].mmsi
        v = statics.get(m)
        csv_w.write(fixes)
        mf_w.write(fixes, _vessel_props(m, v))
        kml_w.write(fixes, _vessel_label(m, v), f"{len(fixes)} fixes")
        if cise_w is not None:
            cise_w.write(fixes, {**(v or {}), "mmsi": m}, (fixes[0].time, fixes[-1].time))
        thin.add(fixes)
        seen[m] = {"n": len(fixes), "first": fixes[0].time, "last": fixes[-1].time}

    current: list[Fix] = []
    async for row in db.positions(conn, start, end, mmsis=mmsis, area=area):
        p = Fix(_utc(row[0]), *row[1:])
        if current and p.mmsi != current[0].mmsi:
            flush(current)
            current = []
        current.append(p)
    flush(current)
    if cise_w is not None:  # an involved vessel with no fix in the window is still named
        for m in cise["mmsis"]:
            if m not in seen:
                cise_w.write([], {**(statics.get(m) or {}), "mmsi": m}, (start, end))
        documents = [
            {
                "title": "raw.nmea",
                "path": "raw.nmea",
                "sha256": raw_sha,
                "description": f"the {n_raw} archived AIS sentences of the involved "
                "vessels in the extract's window, as received (tag blocks included)",
            }
        ]
        if decoded_sha is not None:
            documents.append(
                {
                    "title": RAW_DECODED,
                    "path": RAW_DECODED,
                    "sha256": decoded_sha,
                    "description": f"the {n_decoded} archived decoded records (CSV rows, "
                    "JSON objects) of the involved vessels in the extract's window, as "
                    "received",
                }
            )
        cise_w.close(documents)
        cise_sink.close()
    mf_w.close()
    kml_w.close()
    for s in (csv_sink, mf_sink, kml_sink):
        s.close()
    return {
        "raw_sentences": n_raw,
        "raw_sha256": raw_sha,
        "raw_size": raw_size,
        "raw_decoded": n_decoded,
        "raw_decoded_sha256": decoded_sha,
        "positions": csv_w.rows,
        "seen": seen,
        "map_tracks": thin.tracks,
        "map_step_s": step,
    }


def _files_note(alert: bool, written: dict) -> dict[str, str]:
    out = {
        "incident.json": "this summary",
        "tracks.mf.json": "the tracks as OGC Moving Features JSON trajectories (GeoJSON: "
        "one LineString per vessel, properties.datetimes one per coordinate)",
        "tracks.csv": "every position fix, one row each",
        "tracks.kml": "the tracks as KML 2.2 gx:Track (Google Earth)",
        "raw.nmea": "the archived AIS sentences of these vessels in the window, byte for "
        "byte as the raw archive holds them, one per line (LF)",
        "map.html": "the incident map: opens offline in any browser",
    }
    if written["raw_decoded"]:
        out[RAW_DECODED] = (
            "the archived decoded records of these vessels in the window (positions that came "
            'from CSV or JSON feeds, which have no sentence): one JSON object a line, {"format": '
            '"<the feed format>", "record": "<the row or object as received>"}'
        )
    if alert:
        out["incident.cise.xml"] = "the alert as an EU CISE 1.5.3 Anomaly, with the vessels' tracks"
    return dict(sorted(out.items()))


def _split_details(details: dict) -> tuple[dict, dict]:
    thresholds = {k: v for k, v in details.items() if k.startswith("threshold")}
    measured = {
        k: v
        for k, v in details.items()
        if k not in thresholds and k not in ("text", "rule", "source")
    }
    return thresholds, measured


async def alert_extract(
    conn: psycopg.AsyncConnection,
    alert_id: int,
    options: ExtractOptions,
    maker: Maker,
    target: Path,
    *,
    now: datetime | None = None,
) -> Extract:
    """The extract of one alert, written to ``target`` (a .zip)."""
    alert = await db.alert_record(conn, alert_id)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} not found")
    created = _utc(now or datetime.now(UTC)).replace(microsecond=0)
    mmsis = [m for m in (alert["mmsi"], alert["other_mmsi"]) if m is not None]
    a_start, a_end = _iso(alert["start"]), _iso(alert["end"])
    window = timedelta(seconds=options.window_s)
    if a_end is None:  # still going on: up to the vessels' latest fix
        latest = await db.last_fix(conn, mmsis) if mmsis else None
        t_end = max(a_start, _utc(latest)) if latest else a_start
    else:
        t_end = a_end
    start, end = a_start - window, t_end + window
    n, nv = await db.count_positions(conn, start, end, mmsis=mmsis) if mmsis else (0, 0)
    if n > options.max_positions:
        raise ExtractTooLarge(n, nv, options.max_positions)
    statics = await db.vessels(conn, mmsis) if mmsis else {}
    info = KIND_INFO.get(alert["kind"])
    label = info.label if info else alert["kind"]
    cise_type = info.cise if info else "Other"
    name = f"mda-alert-{alert_id}"
    text = (alert.get("details") or {}).get("text") or ""
    vessel = _vessel_label(alert["mmsi"], statics.get(alert["mmsi"])) if alert["mmsi"] else ""
    title = f"Alert {alert_id}: {label}" + (f", {vessel}" if vessel else "")
    key = signing.load_or_create_key(options.data_path)
    fp = signing.fingerprint(key)
    description = f"mda kind {alert['kind']} ({label})" + (f": {text}" if text else "")
    cise = {
        "mmsis": mmsis,
        "head": {
            "identity": f"mda:{options.organisation}:alert:{alert['key']}",
            "organisation": options.organisation,
            "created": created,
            "anomaly_type": cise_type,
            "description": description,
            "caveat": options.caveat,
            "start": a_start,
            "end": a_end,
            "lat": alert.get("lat"),
            "lon": alert.get("lon"),
        },
    }
    place = None
    if alert.get("lat") is not None and alert.get("lon") is not None:
        place = {
            "name": title,
            "description": description,
            "begin": rfc3339(a_start),
            "end": rfc3339(a_end) if a_end else None,
            "lat": alert["lat"],
            "lon": alert["lon"],
        }

    def summary(written: dict) -> dict:
        thresholds, measured = _split_details(alert.get("details") or {})
        raw_note = _raw_note(
            written,
            "no raw sentences of these vessels are archived for this window (the raw "
            "archive is off, or its retention has removed them): the positions stand alone",
        )
        return {
            "extract": _extract_head(name, "alert", created, maker, options, fp, start, end),
            "alert": {
                **alert,
                "label": label,
                "rule": (alert.get("details") or {}).get("rule", alert["kind"]),
                "cise_anomaly_type": cise_type,
                "text": text,
                "thresholds": thresholds,
                "measured": measured,
            },
            "vessels": [_vessel_summary(m, statics.get(m), written["seen"].get(m)) for m in mmsis],
            "evidence": _evidence(written, raw_note),
            "files": _files_note(True, written),
        }

    from mda.analytics import Alert

    map_alert = Alert(
        key=alert["key"],
        kind=alert["kind"],
        severity=alert["severity"],
        mmsi=alert["mmsi"],
        other_mmsi=alert["other_mmsi"],
        start=a_start.timestamp(),
        end=a_end.timestamp() if a_end else None,
        lat=alert["lat"] if alert["lat"] is not None else 0.0,
        lon=alert["lon"] if alert["lon"] is not None else 0.0,
        zone=alert.get("zone"),
        details=alert.get("details") or {},
    )
    return await _build(
        conn,
        name=name,
        kind="alert",
        target_id=f"alert:{alert_id}",
        created=created,
        start=start,
        end=end,
        mmsis=mmsis,
        area=None,
        spans=[(m, start, end) for m in mmsis],
        statics=statics,
        positions_total=n,
        key=key,
        options=options,
        bag_info={
            "External-Identifier": name,
            "External-Description": f"mda alert {alert_id}: {description}",
            "Internal-Sender-Identifier": alert["key"],
        },
        collection={
            "title": title,
            "description": description,
            "alert": alert_id,
            "window": [rfc3339(start), rfc3339(end)],
        },
        place=place,
        cise=cise,
        summary=summary,
        map_alerts=[map_alert] if alert.get("lat") is not None else [],
        map_title=f"Incident extract: alert {alert_id}",
        target=target,
        extra={"alert": alert_id, "kind": alert["kind"], "mmsi": alert["mmsi"]},
    )


async def area_extract(
    conn: psycopg.AsyncConnection,
    area: Area,
    start: datetime,
    end: datetime,
    options: ExtractOptions,
    maker: Maker,
    target: Path,
    *,
    now: datetime | None = None,
) -> Extract:
    """What was in a box between two times: the same bag without the alert part (no
    ``incident.cise.xml``; ``incident.json`` names the area). ``raw.nmea`` holds each
    vessel's sentences between its first and last fix in the box."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ExchangeError("the extract's end must be after its start")
    created = _utc(now or datetime.now(UTC)).replace(microsecond=0)
    n, nv = await db.count_positions(conn, start, end, area=area)
    if n > options.max_positions:
        raise ExtractTooLarge(n, nv, options.max_positions)
    spans = await db.vessel_spans(conn, area, start, end)
    spans = [(m, _utc(a), _utc(b)) for m, a, b in spans]
    statics = await db.vessels(conn, [s[0] for s in spans]) if spans else {}
    box = f"{area.south:g},{area.west:g},{area.north:g},{area.east:g}"
    name = f"mda-area-{start:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"
    title = f"Area {box} from {rfc3339(start)} to {rfc3339(end)}"
    key = signing.load_or_create_key(options.data_path)
    fp = signing.fingerprint(key)

    def summary(written: dict) -> dict:
        raw_note = _raw_note(
            written, "no raw sentences of these vessels are archived for this window"
        )
        return {
            "extract": _extract_head(name, "area", created, maker, options, fp, start, end),
            "area": {
                "south": area.south,
                "west": area.west,
                "north": area.north,
                "east": area.east,
                "raw_sentences": "each vessel's archived sentences between its first and "
                "last fix inside the area",
            },
            "vessels": [
                _vessel_summary(m, statics.get(m), written["seen"].get(m)) for m, _, _ in spans
            ],
            "evidence": _evidence(written, raw_note),
            "files": _files_note(False, written),
        }

    return await _build(
        conn,
        name=name,
        kind="area",
        target_id=f"area:{box}",
        created=created,
        start=start,
        end=end,
        mmsis=None,
        area=area,
        spans=spans,
        statics=statics,
        positions_total=n,
        key=key,
        options=options,
        bag_info={
            "External-Identifier": name,
            "External-Description": f"mda area extract: {title} (lat,lon,lat,lon)",
        },
        collection={
            "title": title,
            "description": f"vessels seen in the area {box} (lat,lon,lat,lon)",
            "area": [area.south, area.west, area.north, area.east],
            "window": [rfc3339(start), rfc3339(end)],
        },
        place=None,
        cise=None,
        summary=summary,
        map_alerts=[],
        map_title=f"Area extract {box}",
        target=target,
        extra={"area": box},
        map_area=area,
    )


def _extract_head(name, kind, created, maker, options, fp, start, end) -> dict:
    return {
        "id": name,
        "type": kind,
        "created": rfc3339(created),
        "made_by": {"name": maker.name, "role": maker.role, "via": maker.via},
        "source_organisation": options.organisation,
        "handling_caveat": options.caveat,
        "window": {"start": rfc3339(start), "end": rfc3339(end)},
        "window_either_side_h": options.window_s / 3600.0 if kind == "alert" else None,
        "software": _version(),
        "signing_key": fp,
        "signature": f"{name}{SIGNATURE_SUFFIX} beside the bag: Ed25519 over "
        "tagmanifest-sha256.txt",
    }


def _raw_note(written: dict, none: str) -> str | None:
    if written["raw_sentences"]:
        return None
    if written["raw_decoded"]:
        return (
            "no raw sentences: these vessels' positions in this window came from decoded "
            f"feeds (CSV, JSON), whose records are in {RAW_DECODED}"
        )
    return none


def _evidence(written: dict, raw_note: str | None) -> dict:
    out = {
        "positions": written["positions"],
        "vessels_with_positions": len(written["seen"]),
        "raw_sentences": written["raw_sentences"],
        "raw_sha256": written["raw_sha256"],
        "raw_decoded_records": written["raw_decoded"],
        "map_thinned_to_one_fix_per_s": written["map_step_s"],
    }
    if written["raw_decoded"]:
        out["raw_decoded_sha256"] = written["raw_decoded_sha256"]
    if raw_note:
        out["raw_note"] = raw_note
    return out


async def _build(
    conn,
    *,
    name: str,
    kind: str,
    target_id: str,
    created: datetime,
    start: datetime,
    end: datetime,
    mmsis,
    area,
    spans,
    statics,
    positions_total: int,
    key,
    options: ExtractOptions,
    bag_info: dict[str, str],
    collection: dict,
    place,
    cise,
    summary,
    map_alerts: list,
    map_title: str,
    target: Path,
    extra: dict,
    map_area: Area | None = None,
) -> Extract:
    options.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=options.work_dir))
    try:
        folder = work / name
        folder.mkdir()
        written = await _write_payload(
            conn,
            folder,
            start=start,
            end=end,
            mmsis=mmsis,
            area=area,
            spans=spans,
            statics=statics,
            positions_total=positions_total,
            collection=collection,
            place=place,
            cise=cise,
        )
        incident = summary(written)
        (folder / "incident.json").write_text(
            json.dumps(incident, ensure_ascii=False, indent=2, default=str) + "\n",
            encoding="utf-8",
            newline="\n",
        )
        page = await asyncio.to_thread(
            _map_page, map_alerts, written, map_title, start, end, map_area
        )
        (folder / "map.html").write_text(page, encoding="utf-8", newline="\n")
        fp = signing.fingerprint(key)
        await _bag(
            folder,
            {
                "Source-Organization": options.organisation,
                "Bagging-Date": f"{created:%Y-%m-%d}",
                "Extract-Created": rfc3339(created),
                "Extract-Made-By": f"{maker_text(incident)}",
                "Extract-Window-Start": rfc3339(start),
                "Extract-Window-End": rfc3339(end),
                "Handling-Caveat": options.caveat,
                FINGERPRINT_FIELD: fp,
                "Bag-Software-Agent": f"bagit.py (Library of Congress) for {_version()}",
                **bag_info,
            },
        )
        signature = signing.sign(key, (folder / "tagmanifest-sha256.txt").read_bytes())
        sha, size = await asyncio.to_thread(_zip, folder, name, signature, created, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Extract(
        path=target,
        name=name,
        kind=kind,
        target=target_id,
        sha256=sha,
        size=size,
        created=created,
        start=start,
        end=end,
        positions=written["positions"],
        vessels=len(written["seen"]),
        raw_sentences=written["raw_sentences"],
        fingerprint=fp,
        extra=extra,
    )


def maker_text(incident: dict) -> str:
    m = incident["extract"]["made_by"]
    return (
        f"{m['name']} ({m['role']}, {m['via']})" if m.get("role") else f"{m['name']} ({m['via']})"
    )


def _map_page(alerts, written, title, start, end, area) -> str:
    from mda.analytics.zones import builtin_zones

    from .report import InputFile, build_report

    tracks = written["map_tracks"]
    windows = {m: [(start.timestamp(), end.timestamp())] for m in tracks}
    box = _extent(alerts, tracks, area)
    zones = [z for z in builtin_zones() if box is None or _near(z, box)]
    return build_report(
        alerts,
        tracks,
        zones,
        [InputFile("raw.nmea", written["raw_sha256"], written["raw_size"], "raw sentences")],
        span=(start.timestamp(), end.timestamp()),
        windows=windows,
        title=title,
        generator="mda extract",
        track_note="Track of each vessel over the extract's window; the dot is its last fix; "
        "labels give the time (UTC). Jumps are not joined.",
        time_labels=TIME_LABELS,
        area=(area.south, area.west, area.north, area.east) if area else None,
    )


def _extent(alerts, tracks, area) -> tuple[float, float, float, float] | None:
    lats = [a.lat for a in alerts] + [f[1] for fx in tracks.values() for f in fx]
    lons = [a.lon for a in alerts] + [f[2] for fx in tracks.values() for f in fx]
    if area is not None:
        lats += [area.south, area.north]
        lons += [area.west, area.east]
    if not lats:
        return None
    return min(lons) - 3, min(lats) - 3, max(lons) + 3, max(lats) + 3


def _near(zone, box) -> bool:
    w, s, e, n = zone.geometry.bounds
    return not (e < box[0] or w > box[2] or n < box[1] or s > box[3])


async def _bag(folder: Path, info: dict[str, str]) -> None:
    """``exchange._bag`` in a child process (bagit changes the working directory)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mda.exchange._bag",
        str(folder),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(json.dumps(info).encode())
    if proc.returncode != 0:
        line = err.decode("utf-8", "replace").strip().splitlines()
        raise ExchangeError(f"cannot make the bag: {line[-1] if line else proc.returncode}")


def _zip(folder: Path, name: str, signature: bytes, created: datetime, target: Path):
    """The bag and its signature as one ZIP, entries in a fixed order with fixed dates,
    written beside ``target`` and moved into place; returns (SHA-256, size)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    tags = [p for p in files if p.parent == folder]
    payload = [p for p in files if p.parent != folder]
    stamp = created.timetuple()[:6]
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for p in tags + payload:
                info = zipfile.ZipInfo(f"{name}/{p.relative_to(folder).as_posix()}", stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with open(p, "rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            info = zipfile.ZipInfo(name + SIGNATURE_SUFFIX, stamp)
            info.external_attr = 0o644 << 16
            zf.writestr(info, signature)
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        size = tmp.stat().st_size
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return h.hexdigest(), size
