"""Partners' extracts in: an officer uploads a partner's signed incident extract
(``POST /api/extracts/import``, multipart, the ZIP as ``file`` and optionally the
``partner``), which ``exchange.imports`` verifies with the partner's public key and keeps,
audited (``extract.import``; a refusal ``extract.import.refused``). The map lists the
imports and draws one's tracks and alerts as GeoJSON."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from starlette.datastructures import UploadFile
from starlette.responses import Response

from mda.exchange.imports import ImportRefused, import_extract
from mda.store import imported_extracts as store_imports

from ..auth import Principal, audit_request, client_ip
from ..deps import db_conn, officer, viewer
from ..errors import WebError
from ..params import GEOJSON, json_response

__all__ = ["router"]

router = APIRouter(tags=["extracts"])

EXTRACT_ID = PathParam(..., ge=1, le=2**63 - 1)
MAX_TRACK_POINTS = 50_000  # the map's GeoJSON is thinned to about this many fixes


def _save(src, target: Path) -> None:
    with open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def _summary(row: dict) -> dict:
    return {
        "id": row["id"],
        "partner": row["partner"],
        "country": row["country"],
        "title": row["title"],
        "kind": row["kind"],
        "start": _iso(row["window_start"]),
        "end": _iso(row["window_end"]),
        "created": _iso(row["created"]),
        "source_organisation": row["source_organisation"],
        "caveat": row["caveat"],
        "file": row["file_name"],
        "sha256": row["sha256"],
        "size": row["size"],
        "signing_key": row["key_fingerprint"],
        "positions": row["positions"],
        "vessels": len(row["vessels"] or []),
        "alerts": row.get("alerts"),
        "imported_by": row["imported_by"],
        "imported_at": _iso(row["imported_at"]),
    }


def _imported_json(done) -> dict:
    return {
        "id": done.id,
        "duplicate": done.duplicate,
        "message": done.line(),
        "partner": done.partner,
        "country": done.country,
        "title": done.title,
        "kind": done.kind,
        "start": _iso(done.start),
        "end": _iso(done.end),
        "sha256": done.sha256,
        "positions": done.positions,
        "vessels": done.vessels,
        "alerts": done.alerts,
        "signing_key": done.fingerprint,
        "imported_by": done.imported_by,
        "imported_at": _iso(done.imported_at),
    }


@router.post(
    "/api/extracts/import",
    response_class=Response,
    summary="Import a partner's signed extract: multipart, the ZIP as 'file', optionally "
    "'partner'; verified with the partner's public key, audited (officer or higher)",
    responses={
        201: {"description": "imported"},
        200: {"description": "this file was imported before: nothing changed"},
        422: {"description": "refused: the signature, a manifest, the key or the partner"},
    },
)
async def import_(
    request: Request, principal: Principal = Depends(officer), db=Depends(db_conn)
) -> Response:
    settings = request.app.state.settings
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as e:  # not multipart, or malformed
        raise WebError(
            400, "bad_request", f"send the ZIP as multipart/form-data 'file' ({e})"
        ) from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise WebError(422, "invalid", "file: the extract's ZIP is missing (multipart 'file')")
    partner = form.get("partner")
    partner = partner.strip() if isinstance(partner, str) and partner.strip() else None
    name = Path(upload.filename or "extract.zip").name[:200] or "extract.zip"
    work = Path(settings.data_path) / "extracts"
    work.mkdir(parents=True, exist_ok=True)
    target = work / f"import-{uuid.uuid4().hex}.zip"
    try:
        await upload.seek(0)
        await asyncio.to_thread(_save, upload.file, target)
        await upload.close()
        try:
            done = await import_extract(
                db,
                target,
                actor=principal.name,
                role=principal.role,
                via=principal.via,
                partner=partner,
                file_name=name,
                max_positions=settings.extract_max_positions,
                ip=client_ip(request),
            )
        except ImportRefused as e:
            await audit_request(
                db,
                request,
                principal,
                "extract.import.refused",
                target=f"partner:{partner}" if partner else None,
                details={"file": name, "reason": str(e)},
            )
            raise WebError(422, "refused", str(e)) from None
    finally:
        target.unlink(missing_ok=True)
    return Response(
        json.dumps(_imported_json(done)),
        status_code=200 if done.duplicate else 201,
        media_type="application/json",
    )


@router.get(
    "/api/extracts/imported",
    response_class=Response,
    summary="Partners' extracts imported here, newest first",
)
async def imported(principal: Principal = Depends(viewer), db=Depends(db_conn)) -> Response:
    rows = await store_imports.list_imports(db)
    out = [_summary(r) for r in rows]
    return json_response(json.dumps({"imports": out, "count": len(out)}))


@router.get(
    "/api/extracts/imported/{extract_id}",
    response_class=Response,
    summary="One imported extract as GeoJSON: each vessel's track (LineString, its times in "
    "properties.datetimes) and the alerts it carries (Point), with the partner",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def imported_one(
    extract_id: int = EXTRACT_ID, principal: Principal = Depends(viewer), db=Depends(db_conn)
) -> Response:
    row = await store_imports.get_import(db, extract_id)
    if row is None:
        raise WebError(404, "not_found", f"imported extract {extract_id} not found")
    tracks = await store_imports.import_tracks(db, extract_id, MAX_TRACK_POINTS)
    alerts = await store_imports.import_alerts(db, extract_id)
    names = {v.get("mmsi"): v for v in row["vessels"] or []}
    features = []
    for mmsi, fixes in tracks.items():
        coords = [[lon, lat] for _, lat, lon, _, _ in fixes]
        v = names.get(mmsi) or {}
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords}
                if len(coords) > 1
                else {"type": "Point", "coordinates": coords[0]},
                "properties": {
                    "role": "track",
                    "partner": row["partner"],
                    "mmsi": mmsi,
                    "name": v.get("name"),
                    "callsign": v.get("callsign"),
                    "ship_type": v.get("ship_type"),
                    "fixes": len(fixes),
                    "datetimes": [_iso(t) for t, *_ in fixes],
                },
            }
        )
    for a in alerts:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [a["lon"], a["lat"]]}
                if a["lat"] is not None and a["lon"] is not None
                else None,
                "properties": {
                    "role": "alert",
                    "partner": row["partner"],
                    "remote_id": a["remote_id"],
                    "kind": a["kind"],
                    "label": (a["record"] or {}).get("label"),
                    "severity": a["severity"],
                    "status": a["status"],
                    "mmsi": a["mmsi"],
                    "other_mmsi": a["other_mmsi"],
                    "start": _iso(a["start"]),
                    "end": _iso(a["end"]),
                    "text": a["text"],
                },
            }
        )
    body = {
        "type": "FeatureCollection",
        "properties": {**_summary(row), "vessel_list": row["vessels"] or []},
        "features": features,
    }
    return Response(json.dumps(body), media_type=GEOJSON, headers={"Cache-Control": "no-store"})
