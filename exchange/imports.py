"""A partner's signed incident extract in: ``mda extract import FILE.zip [--partner NAME]``
and ``POST /api/extracts/import``.

1. The file's SHA-256: a file imported before is not imported again (``Imported.duplicate``).
2. The partner: the one named, or the one whose public key has the fingerprint the bag's
   ``bag-info.txt`` names (``Signing-Key-Fingerprint``); it must be known here, enabled,
   and have its public key on record (``store.partners.partner_public_key``).
3. ``verify.verify_extract`` with that key: the signature, both manifests, every file
   (the first failure is the refusal, in its words).
4. ``incident.json`` and ``tracks.csv`` read (every fix, streamed) and stored with the
   partner, the SHA-256, who imported it and when (``store.imported_extracts``), audited
   ``extract.import`` in the same transaction.

Every refusal is an ``ImportRefused``: one line naming what did not check out."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from mda.store import imported_extracts as db
from mda.store import partners as store_partners

from .errors import ExchangeError
from .signing import parse_public_key
from .verify import FINGERPRINT_FIELD, VerifyError, verify_extract

__all__ = ["ImportRefused", "Imported", "import_extract", "file_sha256", "MAX_UNPACKED_BYTES"]

MAX_UNPACKED_BYTES = 8 << 30  # a ZIP that would unpack to more is refused unread
MAX_INCIDENT_BYTES = 64 << 20  # incident.json: the summary, never this big from mda
CSV_HEADER = [
    "mmsi",
    "time",
    "lat",
    "lon",
    "sog_kn",
    "cog_deg",
    "heading_deg",
    "nav_status",
    "msg_type",
    "source",
]


class ImportRefused(ExchangeError):
    """The extract is not imported: the signature, a manifest, the key or the partner did
    not check out, or its content cannot be read."""


@dataclass(frozen=True)
class Imported:
    id: int
    duplicate: bool  # the file was imported before: nothing changed
    partner: str
    country: str | None
    sha256: str
    size: int
    file_name: str
    title: str
    kind: str
    start: datetime | None
    end: datetime | None
    positions: int
    vessels: int
    alerts: int
    fingerprint: str
    imported_by: str
    imported_at: datetime

    def line(self) -> str:
        span = (
            f", {self.start:%Y-%m-%d %H:%MZ} to {self.end:%Y-%m-%d %H:%MZ}"
            if self.start and self.end
            else ""
        )
        if self.duplicate:
            return (
                f"already imported: {self.file_name} (SHA-256 {self.sha256}) is imported "
                f"extract {self.id} of partner {self.partner}, imported by {self.imported_by} "
                f"at {self.imported_at.astimezone(UTC):%Y-%m-%d %H:%MZ}; nothing changed"
            )
        return (
            f"imported extract {self.id} of partner {self.partner}"
            f"{' (' + self.country + ')' if self.country else ''}: {self.title}: "
            f"{self.positions:,} positions of {self.vessels} vessels, {self.alerts} alert(s)"
            f"{span}; signed with {self.fingerprint}"
        )


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _peek(path: Path, name: str) -> tuple[str | None, str | None]:
    """(the bag's folder, the signing key fingerprint its bag-info names), unverified:
    only to find the partner. A ZIP that is not one, or would unpack to too much, is
    refused here."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
                raise ImportRefused(
                    f"{name}: would unpack to more than {MAX_UNPACKED_BYTES >> 30} GiB"
                )
            bags = sorted(
                {i.filename.split("/", 1)[0] for i in infos if i.filename.endswith("/bagit.txt")}
            )
            if len(bags) != 1:
                return None, None
            info = f"{bags[0]}/bag-info.txt"
            if info not in zf.namelist():
                return bags[0], None
            for line in zf.read(info).decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition(":")
                if sep and key.strip() == FINGERPRINT_FIELD:
                    return bags[0], value.strip()
            return bags[0], None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ImportRefused(f"{name}: not a readable ZIP file ({e})") from None


async def _partner_and_key(conn, partner: str | None, named: str | None):
    if partner:
        try:
            row = await store_partners.get_partner(conn, partner)
        except store_partners.PartnerNotFound:
            raise ImportRefused(
                f"unknown partner {partner!r} (mda partner list names the partners)"
            ) from None
    else:
        if not named:
            raise ImportRefused(
                f"the extract names no signing key ({FINGERPRINT_FIELD} in bag-info.txt): "
                "give the partner with --partner NAME"
            )
        row = await store_partners.partner_by_fingerprint(conn, named)
        if row is None:
            raise ImportRefused(
                f"unknown partner: no partner here has the signing key {named} the extract "
                "names (record the partner's public key, or give --partner NAME)"
            )
    if row.get("disabled"):
        raise ImportRefused(f"partner {row['name']!r} is disabled: nothing is taken from it")
    pem = await store_partners.partner_public_key(conn, row["name"])
    if not pem:
        raise ImportRefused(
            f"partner {row['name']!r} has no public key on record: its extracts cannot be "
            "verified (record the key it gave you first)"
        )
    try:
        key = parse_public_key(pem) if isinstance(pem, str) else pem
    except ExchangeError as e:
        raise ImportRefused(
            f"partner {row['name']!r}: its recorded key is unusable ({e})"
        ) from None
    return row, key


def _time(text: Any, where: str) -> datetime | None:
    if text in (None, ""):
        return None
    try:
        t = datetime.fromisoformat(str(text))
    except ValueError:
        raise ImportRefused(f"{where}: {text!r} is not an RFC 3339 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _incident(zf: zipfile.ZipFile, bag: str) -> dict:
    name = f"{bag}/data/incident.json"
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ImportRefused(f"{name}: missing (not an mda incident extract)") from None
    if info.file_size > MAX_INCIDENT_BYTES:
        raise ImportRefused(f"{name}: over {MAX_INCIDENT_BYTES >> 20} MiB")
    try:
        data = json.loads(zf.read(name))
    except (ValueError, UnicodeDecodeError) as e:
        raise ImportRefused(f"{name}: not JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("extract"), dict):
        raise ImportRefused(f"{name}: no 'extract' object (not an mda incident extract)")
    return data


def _num(value: str, kind, where: str, lo: float | None = None, hi: float | None = None):
    if value == "":
        return None
    try:
        v = kind(value)
    except ValueError:
        raise ImportRefused(f"{where}: {value!r} is not a number") from None
    if kind is float and not math.isfinite(v):
        raise ImportRefused(f"{where}: {value!r} is not finite")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ImportRefused(f"{where}: {value} out of range")
    return v


def _positions(path: Path, bag: str, seen: dict[int, int]) -> Iterator[tuple]:
    """tracks.csv's rows as position tuples, read as they are stored; ``seen`` counts
    fixes per MMSI."""
    name = f"{bag}/data/tracks.csv"
    with zipfile.ZipFile(path) as zf:
        try:
            raw = zf.open(name)
        except KeyError:
            raise ImportRefused(f"{name}: missing (not an mda incident extract)") from None
        with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if header != CSV_HEADER:
                raise ImportRefused(f"{name}: line 1 is not the header {','.join(CSV_HEADER)}")
            for n, r in enumerate(rows, 2):
                where = f"{name}: line {n}"
                if len(r) != len(CSV_HEADER):
                    raise ImportRefused(f"{where}: {len(r)} fields, expected {len(CSV_HEADER)}")
                mmsi = _num(r[0], int, where + " mmsi", 0, 999_999_999)
                t = _time(r[1], where + " time")
                lat = _num(r[2], float, where + " lat", -90, 90)
                lon = _num(r[3], float, where + " lon", -180, 180)
                if mmsi is None or t is None or lat is None or lon is None:
                    raise ImportRefused(f"{where}: mmsi, time, lat and lon are required")
                seen[mmsi] = seen.get(mmsi, 0) + 1
                yield (
                    mmsi,
                    t,
                    lat,
                    lon,
                    _num(r[4], float, where + " sog_kn"),
                    _num(r[5], float, where + " cog_deg"),
                    _num(r[6], int, where + " heading_deg", -32768, 32767),
                    _num(r[7], int, where + " nav_status", -32768, 32767),
                    _num(r[8], int, where + " msg_type", -32768, 32767),
                    r[9].replace("\x00", "") or None,
                )


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _float(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _alert(a: dict) -> dict:
    return {
        "remote_id": _int(a.get("id")),
        "kind": str(a.get("kind") or "unknown"),
        "severity": a.get("severity"),
        "status": a.get("status"),
        "mmsi": _int(a.get("mmsi")),
        "other_mmsi": _int(a.get("other_mmsi")),
        "start": _time(a.get("start"), "incident.json alert.start"),
        "end": _time(a.get("end"), "incident.json alert.end"),
        "lat": _float(a.get("lat")),
        "lon": _float(a.get("lon")),
        "zone": a.get("zone") if isinstance(a.get("zone"), str) else None,
        "text": a.get("text") if isinstance(a.get("text"), str) else None,
        "record": a,
    }


def _title(incident: dict, bag: str) -> tuple[str, str]:
    alert = incident.get("alert")
    if isinstance(alert, dict):
        label = alert.get("label") or str(alert.get("kind") or "alert").replace("_", " ")
        vessels = {v.get("mmsi"): v for v in incident.get("vessels") or [] if isinstance(v, dict)}
        mmsi = alert.get("mmsi")
        name = (vessels.get(mmsi) or {}).get("name")
        who = f"{name} (MMSI {mmsi})" if name else f"MMSI {mmsi}" if mmsi else ""
        return "alert", f"{label}" + (
            f", {who}" if who else ""
        ) + f" (their alert {alert.get('id')})"
    area = incident.get("area")
    if isinstance(area, dict):
        box = ",".join(f"{area.get(k)}" for k in ("south", "west", "north", "east"))
        return "area", f"Area {box}"
    return "area", bag


def _vessels(incident: dict) -> list[dict]:
    keep = ("mmsi", "name", "callsign", "imo", "ship_type")
    out = []
    for v in incident.get("vessels") or []:
        if isinstance(v, dict) and _int(v.get("mmsi")) is not None:
            out.append({k: v.get(k) for k in keep})
    return out


async def import_extract(
    conn: psycopg.AsyncConnection,
    path: str | Path,
    *,
    actor: str,
    via: str,
    role: str | None = None,
    partner: str | None = None,
    file_name: str | None = None,
    max_positions: int = 1_000_000,
    ip: str | None = None,
    audit_details: dict | None = None,
) -> Imported:
    """Verify and store a partner's extract; ``ImportRefused`` naming why not."""
    path = Path(path)
    name = file_name or path.name
    if not path.is_file():
        raise ImportRefused(f"{name}: no such file")
    sha, size = await asyncio.to_thread(file_sha256, path)
    before = await db.find_by_sha256(conn, sha)
    if before is not None:
        return await _answer(conn, before, duplicate=True)
    bag, named = await asyncio.to_thread(_peek, path, name)
    row, key = await _partner_and_key(conn, partner, named)
    try:
        verified = await asyncio.to_thread(verify_extract, path, key)
    except VerifyError as e:
        raise ImportRefused(f"{name}: {e}") from None
    bag = verified.bag
    with zipfile.ZipFile(path) as zf:
        incident = await asyncio.to_thread(_incident, zf, bag)
    head = incident["extract"]
    window = head.get("window") if isinstance(head.get("window"), dict) else {}
    kind, title = _title(incident, bag)
    alerts = [_alert(incident["alert"])] if isinstance(incident.get("alert"), dict) else []
    info = verified.info
    seen: dict[int, int] = {}
    try:
        stored, inserted = await db.store_import(
            conn,
            {
                "sha256": sha,
                "size": size,
                "file_name": name,
                "partner": row["name"],
                "country": row.get("country"),
                "key_fingerprint": verified.fingerprint,
                "bag": bag,
                "kind": kind,
                "title": title,
                "source_organisation": info.get("Source-Organization")
                or head.get("source_organisation"),
                "caveat": info.get("Handling-Caveat") or head.get("handling_caveat"),
                "created": _time(head.get("created"), "incident.json extract.created"),
                "window_start": _time(window.get("start"), "incident.json window.start"),
                "window_end": _time(window.get("end"), "incident.json window.end"),
                "vessels": _vessels(incident),
                "bag_info": info,
                "imported_by": actor,
                "imported_role": role,
                "imported_via": via,
            },
            _positions(path, bag, seen),
            alerts,
            max_positions=max_positions,
            ip=ip,
            audit_details=audit_details,
        )
    except db.TooManyPositions as e:
        raise ImportRefused(f"{name}: {e}") from None
    except psycopg.DataError as e:  # a NUL in its JSON, a number out of a column's range
        reason = e.diag.message_primary or str(e).splitlines()[0]
        raise ImportRefused(f"{name}: content the database cannot hold ({reason})") from None
    return await _answer(conn, stored, duplicate=not inserted, vessels=len(seen) if seen else None)


async def _answer(conn, row: dict, *, duplicate: bool, vessels: int | None = None) -> Imported:
    alerts = await db.import_alerts(conn, row["id"])
    if vessels is None:
        vessels = await db.vessel_count(conn, row["id"])
    return Imported(
        id=row["id"],
        duplicate=duplicate,
        partner=row["partner"],
        country=row["country"],
        sha256=row["sha256"],
        size=row["size"],
        file_name=row["file_name"],
        title=row["title"],
        kind=row["kind"],
        start=row["window_start"],
        end=row["window_end"],
        positions=row["positions"],
        vessels=vessels,
        alerts=len(alerts),
        fingerprint=row["key_fingerprint"],
        imported_by=row["imported_by"],
        imported_at=row["imported_at"],
    )
