"""Incident extracts: the signed BagIt ZIP of an alert or of an area and time, made by
``exchange.extract`` (the same bag as ``mda extract``), audited with its SHA-256, and the
list of an alert's extracts for the desk. Officers and above."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC

from fastapi import APIRouter, Depends, Query, Request
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from mda.exchange import extract
from mda.exchange.errors import ExchangeError
from mda.store import extracts as store_extracts

from ..auth import Principal, audit_request
from ..deps import db_conn, officer
from ..errors import WebError
from ..params import ALERT_ID, json_response, parse_time

__all__ = ["router", "MAX_CONCURRENT"]

router = APIRouter(tags=["extracts"])

MAX_CONCURRENT = 2  # extracts made at once per process; more wait their turn
ZIP = "application/zip"


def _slots(request: Request) -> asyncio.Semaphore:
    slots = getattr(request.app.state, "extract_slots", None)
    if slots is None:
        slots = request.app.state.extract_slots = asyncio.Semaphore(MAX_CONCURRENT)
    return slots


async def _make(request: Request, principal: Principal, db, build, action: str) -> Response:
    options = extract.ExtractOptions.from_settings(request.app.state.settings)
    options.work_dir.mkdir(parents=True, exist_ok=True)
    target = options.work_dir / f"download-{uuid.uuid4().hex}.zip"
    maker = extract.Maker(principal.name, principal.role, principal.via)
    try:
        async with _slots(request):
            made = await build(options, maker, target)
    except extract.AlertNotFound as e:
        raise WebError(404, "not_found", str(e)) from None
    except extract.ExtractTooLarge as e:
        raise WebError(422, "too_large", str(e)) from None
    except ExchangeError as e:
        target.unlink(missing_ok=True)
        raise WebError(422, "invalid", str(e)) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    await audit_request(
        db, request, principal, action, target=made.target, details=made.audit_details()
    )
    return FileResponse(
        made.path,
        media_type=ZIP,
        filename=f"{made.name}.zip",
        headers={"Cache-Control": "no-store", "X-Extract-SHA256": made.sha256},
        background=BackgroundTask(made.path.unlink, missing_ok=True),
    )


@router.get(
    "/api/alerts/{alert_id}/extract",
    response_class=Response,
    summary="The alert's incident extract: a signed BagIt ZIP (officer or higher)",
    responses={200: {"content": {ZIP: {}}}},
)
async def alert_extract(
    request: Request,
    alert_id: int = ALERT_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    async def build(options, maker, target):
        return await extract.alert_extract(db, alert_id, options, maker, target)

    return await _make(request, principal, db, build, "extract.alert")


@router.get(
    "/api/extract",
    response_class=Response,
    summary="What was in an area between two times, as a signed BagIt ZIP (officer or higher)",
    responses={200: {"content": {ZIP: {}}}},
)
async def area_extract(
    request: Request,
    area: str = Query(..., description="two opposite corners: lat,lon,lat,lon (degrees)"),
    from_: str = Query(..., alias="from", description="start (ISO 8601, epoch s, -12h, now)"),
    to: str = Query(..., description="end (ISO 8601, epoch s, -1h, now)"),
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    try:
        box = extract.parse_area(area)
    except ExchangeError as e:
        raise WebError(422, "invalid", str(e)) from None
    start, end = parse_time(from_, "from"), parse_time(to, "to")
    if end <= start:
        raise WebError(422, "invalid", "to: must be after from")

    async def build(options, maker, target):
        return await extract.area_extract(db, box, start, end, options, maker, target)

    return await _make(request, principal, db, build, "extract.area")


@router.get(
    "/api/alerts/{alert_id}/extracts",
    response_class=Response,
    summary="The extracts made of an alert, newest first (officer or higher)",
)
async def alert_extracts(
    alert_id: int = ALERT_ID, principal: Principal = Depends(officer), db=Depends(db_conn)
) -> Response:
    if await store_extracts.alert_record(db, alert_id) is None:
        raise WebError(404, "not_found", f"alert {alert_id} not found")
    rows = await store_extracts.extracts_of(db, f"alert:{alert_id}")
    out = []
    for r in rows:
        d = r["details"] or {}
        out.append(
            {
                "id": r["id"],
                "time": r["time"].astimezone(UTC).isoformat(),
                "actor": r["actor"],
                "role": r["role"],
                "via": r["via"],
                "file": d.get("file"),
                "sha256": d.get("sha256"),
                "size": d.get("size"),
                "positions": d.get("positions"),
                "raw_sentences": d.get("raw_sentences"),
            }
        )
    return json_response(json.dumps({"alert": alert_id, "extracts": out, "count": len(out)}))
