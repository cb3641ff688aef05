"""Alerts: the desk's list and one alert with its history, acknowledging and closing
(audited in the same transaction, pushed to every console), and the data-quality
notices counted by source."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mda.store import alerts as store_alerts
from mda.store import queries
from mda.store.alerts import DESK_SEVERITIES, OUTCOMES, SEVERITIES

from ..auth import Principal, audit_request
from ..deps import db_conn, officer, viewer
from ..errors import WebError
from ..params import ALERT_ID, csv, json_response, parse_bbox, parse_time

__all__ = ["router", "NoteIn", "CloseIn", "BulkIn", "MAX_BULK"]

router = APIRouter(tags=["alerts"])

STATUSES = ("open", "acknowledged", "closed")


class NoteIn(BaseModel):
    note: str | None = Field(
        default=None, max_length=2000, description="why: kept with the alert and in its history"
    )


class CloseIn(NoteIn):
    outcome: Literal[OUTCOMES] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="what the officer found: false_alarm (nothing was there as the rule said: "
        "bad data, or normal behaviour misread), confirmed (real, needed attention), "
        "no_action (real as described, but legitimate or known). Required for desk "
        "alerts; optional for data-quality notices (severity info).",
    )


MAX_BULK = 500


class BulkIn(CloseIn):
    ids: list[int] = Field(..., min_length=1, max_length=MAX_BULK)
    action: Literal["acknowledge", "close"]


@router.get(
    "/api/alerts", response_class=Response, summary="Alerts, newest first: {alerts: [...], count}"
)
async def alerts(
    status_: str | None = Query(
        None, alias="status", description="comma list of open, acknowledged, closed"
    ),
    kind: str | None = Query(None, description="comma list of alert kinds"),
    severity: str | None = Query(
        None,
        description="comma list of critical, high, medium, low, info; default: the "
        "desk's (all but info, the data-quality notices)",
    ),
    since: str | None = Query(None, description="alerts going on at or after this time"),
    until: str | None = Query(None, description="alerts that started at or before this time"),
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
    mmsi: int | None = Query(None, ge=0, le=999_999_999, description="alerts about this vessel"),
    limit: int = Query(500, ge=1, le=5000),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    statuses = csv(status_)
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise WebError(422, "invalid", f"status: unknown {', '.join(bad)}")
    # Notices stay off the desk unless asked for: they never need an officer.
    severities = csv(severity) or list(DESK_SEVERITIES)
    bad = [s for s in severities if s not in SEVERITIES]
    if bad:
        raise WebError(
            422, "invalid", f"severity: unknown {', '.join(bad)}; one of {', '.join(SEVERITIES)}"
        )
    return json_response(
        await queries.alerts_json(
            db,
            status=statuses,
            kind=csv(kind),
            severity=severities,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            bbox=parse_bbox(bbox),
            mmsi=mmsi,
            limit=limit,
        )
    )


@router.get("/api/alerts/{alert_id}", response_class=Response, summary="One alert with its history")
async def alert(
    alert_id: int = ALERT_ID, principal: Principal = Depends(viewer), db=Depends(db_conn)
) -> Response:
    text = await queries.alert_detail(db, alert_id)
    if text is None:
        raise WebError(404, "not_found", f"alert {alert_id} not found")
    return json_response(text)


@router.post(
    "/api/alerts/{alert_id}/ack",
    response_class=Response,
    summary="Acknowledge an open alert (officer or higher)",
)
async def ack(
    request: Request,
    alert_id: int = ALERT_ID,
    body: NoteIn | None = None,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    return await _act(request, alert_id, body, principal, db, "acknowledged")


@router.post(
    "/api/alerts/{alert_id}/close",
    response_class=Response,
    summary="Close an open or acknowledged alert with its outcome and a note (officer or higher)",
)
async def close(
    request: Request,
    alert_id: int = ALERT_ID,
    body: CloseIn | None = None,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    return await _act(request, alert_id, body, principal, db, "closed")


async def _act(
    request: Request, alert_id: int, body: NoteIn | None, principal: Principal, db, change: str
) -> Response:
    """Acknowledge or close, with its audit row in the same transaction; then answer with
    the alert and its history, and push the change to every console."""
    note = ((body.note or "").strip() or None) if body else None
    outcome = getattr(body, "outcome", None)
    async with db.transaction():
        if change == "acknowledged":
            row = await store_alerts.acknowledge(db, alert_id, principal.name, note)
            action, details = "alert.acknowledge", {"note": note}
        else:
            row = await store_alerts.close(
                db, alert_id, principal.name, note, outcome, note_required=True
            )
            action, details = "alert.close", {"note": note, "outcome": outcome}
        await audit_request(
            db,
            request,
            principal,
            action,
            target=f"alert:{alert_id}",
            details={**details, "kind": row["kind"], "mmsi": row["mmsi"]},
        )
    text = await queries.alert_detail(db, alert_id)
    vessel_name = json.loads(text)["vessel_name"]
    await request.app.state.hub.publish_alert({**row, "vessel_name": vessel_name, "change": change})
    return json_response(text)


@router.post(
    "/api/alerts/bulk",
    response_class=Response,
    summary="Acknowledge or close many alerts with one note (and one outcome) (officer)",
)
async def bulk(
    request: Request, body: BulkIn, principal: Principal = Depends(officer), db=Depends(db_conn)
) -> Response:
    """All or nothing, in one transaction: each alert changes as it would alone (the same
    checks: 409 for one already closed, 422 without the outcome and note a closing needs),
    each with its history and audit rows; then every console gets every change."""
    note = (body.note or "").strip() or None
    ids = list(dict.fromkeys(body.ids))
    rows = []
    async with db.transaction():
        for alert_id in ids:
            if body.action == "acknowledge":
                row = await store_alerts.acknowledge(db, alert_id, principal.name, note)
                action, details = "alert.acknowledge", {"note": note, "bulk": len(ids)}
            else:
                row = await store_alerts.close(
                    db, alert_id, principal.name, note, body.outcome, note_required=True
                )
                action = "alert.close"
                details = {"note": note, "outcome": body.outcome, "bulk": len(ids)}
            await audit_request(
                db,
                request,
                principal,
                action,
                target=f"alert:{alert_id}",
                details={**details, "kind": row["kind"], "mmsi": row["mmsi"]},
            )
            rows.append(row)
    change = "acknowledged" if body.action == "acknowledge" else "closed"
    out = []
    for row in rows:
        text = await queries.alert_detail(db, row["id"])
        a = json.loads(text)
        a.pop("history", None)
        out.append(a)
        await request.app.state.hub.publish_alert(
            {**row, "vessel_name": a["vessel_name"], "change": change}
        )
    return json_response(json.dumps({"alerts": out, "count": len(out)}))


@router.get(
    "/api/data-quality",
    response_class=Response,
    summary="Data-quality notices (severity info) counted by source and kind, with "
    "the latest examples",
)
async def data_quality(
    since: str | None = Query(
        None, description="notices that started at or after this time (event time); default -24h"
    ),
    examples: int = Query(5, ge=0, le=50, description="latest notices shown per source and kind"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    t = parse_time(since, "since") or datetime.now(UTC) - queries.NOTICE_WINDOW
    return json_response(await queries.data_quality_json(db, t, examples))
