"""Hazard areas and search-and-rescue assist: hazards from CAP 1.2 alerts or GeoJSON (made by
``exchange.hazard_input``, the same as ``mda hazard add``), the vessels at risk from one
(``analytics.hazards.vessels_at_risk`` on the vessels' latest positions in the store) as JSON
or CSV, a hazard as CAP 1.2 for a partner's warning system, and the vessels nearest a
distress by time to reach it (stale positions after fresh ones). Viewers read; officers add
and end hazards, and share them with partners (the share log, ``store.shares.share_hazard``);
supervisors confirm those awaiting confirmation and delete mistakes; audited. A CAP message
that is not a live warning (an exercise, a test, a draft, an Ack) is a 422."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mda.analytics.hazards import Fleet, beacon_prefixes, nearest_responders, vessels_at_risk
from mda.exchange.cap import CapError, CapNotLive, cap_cancels, cap_sender, to_cap
from mda.exchange.hazard_feed import hazard_cap_identifier
from mda.exchange.hazard_input import read_hazards
from mda.store import hazards as store
from mda.store import partners as store_partners
from mda.store import shares as store_shares

from ..auth import Principal, audit_request, client_ip
from ..deps import db_conn, officer, supervisor, viewer
from ..errors import WebError
from ..params import GEOJSON, json_dumps, json_response

__all__ = ["router", "MAX_BODY"]

router = APIRouter(tags=["hazards"])

HAZARD_ID = Path(..., ge=1, le=2**63 - 1)
MAX_BODY = 1 << 20  # a CAP alert or a drawn polygon is a few kB
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")
VESSEL_MAX_AGE_S = 86400.0  # vessels not heard for a day are left out of both answers


def _feature(row: dict) -> dict:
    props = {k: v for k, v in row.items() if k not in ("geometry", "created")}
    return {"type": "Feature", "id": row["id"], "geometry": row["geometry"], "properties": props}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(round(ts), UTC).isoformat()


def _beacons(request: Request) -> tuple[str, ...]:
    return beacon_prefixes(request.app.state.settings)


@router.get(
    "/api/hazards",
    response_class=Response,
    summary="Hazard areas not ended nor expired (all=true: every one), GeoJSON",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def hazards(
    all: bool = Query(False, description="also ended and expired hazards"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    rows = await store.list_hazards(db, all_=all)
    body = {"type": "FeatureCollection", "features": [_feature(r) for r in rows]}
    return json_response(json_dumps(body), GEOJSON)


@router.post(
    "/api/hazards",
    response_class=Response,
    status_code=201,
    summary="Add hazard areas: a CAP 1.2 alert (application/cap+xml) or a GeoJSON Feature (officer)",
)
async def add(
    request: Request,
    confirm_large: bool = Query(False, description="accept an area larger than the limit"),
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise WebError(413, "too_large", f"body: at most {MAX_BODY} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_xml = ctype in CAP_TYPES or raw.lstrip()[:1] == b"<"
    if not is_xml and ctype not in ("application/json", "application/geo+json", ""):
        raise WebError(415, "unsupported", f"{ctype}: send {CAP_TYPES[0]} or application/json")
    try:
        cancels = cap_cancels(raw) if is_xml else None
        if cancels is not None:  # a CAP "Cancel": the hazards of the alerts it names end
            return await _cancel(request, principal, db, cancels)
        found = read_hazards(
            raw,
            now=time.time(),
            confirm_large=confirm_large,
            max_area=request.app.state.settings.hazard_max_area_deg2,
        )
    except CapNotLive as e:  # an exercise, a test, a draft, an Ack: not a live warning
        raise WebError(422, "not_live", e.message) from None
    except CapError as e:  # the message names the element or field at fault
        raise WebError(400, "invalid", e.message) from None
    source = "cap" if is_xml else "geojson"
    if source == "geojson" and request.headers.get("x-mda-drawn"):
        source = "drawn"
    rows = []
    async with db.transaction():
        for h in found:
            row = await store.save_hazard(db, h, source=source, created_by=principal.name)
            if row.get("unchanged"):  # older than the message the hazard was read from
                rows.append(row)
                continue
            await audit_request(
                db,
                request,
                principal,
                "hazard.create" if row["created"] else "hazard.update",
                f"hazard:{row['id']}",
                {"name": row["name"], "source": source, "severity": row["severity"]},
            )
            rows.append(row)
    body = {"type": "FeatureCollection", "features": [_feature(r) for r in rows]}
    return Response(json_dumps(body), status_code=201, media_type=GEOJSON)


async def _cancel(request: Request, principal: Principal, db, refs) -> Response:
    async with db.transaction():
        rows = await store.end_cap_hazards(db, refs, principal.name)
        for row in rows:
            await audit_request(
                db, request, principal, "hazard.end", f"hazard:{row['id']}", {"name": row["name"]}
            )
    body = {"type": "FeatureCollection", "features": [_feature(r) for r in rows]}
    return Response(json_dumps(body), status_code=200, media_type=GEOJSON)


@router.post(
    "/api/hazards/{hazard_id}/end",
    response_class=Response,
    summary="End a hazard before it expires (officer)",
)
async def end(
    request: Request,
    hazard_id: int = HAZARD_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        row = await store.end_hazard(db, hazard_id, principal.name)
        await audit_request(
            db, request, principal, "hazard.end", f"hazard:{hazard_id}", {"name": row["name"]}
        )
    return json_response(json_dumps(_feature(row)))


@router.delete(
    "/api/hazards/{hazard_id}",
    response_class=Response,
    summary="Remove a hazard entered by mistake (supervisor; officers end hazards instead)",
)
async def delete(
    request: Request,
    hazard_id: int = HAZARD_ID,
    principal: Principal = Depends(supervisor),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        row = await store.delete_hazard(db, hazard_id)
        await audit_request(
            db, request, principal, "hazard.delete", f"hazard:{hazard_id}", {"name": row["name"]}
        )
    return json_response(json_dumps(_feature(row)))


@router.post(
    "/api/hazards/{hazard_id}/confirm",
    response_class=Response,
    summary="Confirm a hazard awaiting confirmation (a CAP warning from MQTT larger than the "
    "limit): it is in force from now on (supervisor)",
)
async def confirm(
    request: Request,
    hazard_id: int = HAZARD_ID,
    principal: Principal = Depends(supervisor),
    db=Depends(db_conn),
) -> Response:
    async with db.transaction():
        before = await store.get_hazard(db, hazard_id)
        try:
            row = await store.confirm_hazard(db, hazard_id, principal.name)
        except store.InvalidHazard as e:
            raise WebError(409, "conflict", str(e)) from None
        if before["status"] == "unconfirmed":
            await audit_request(
                db, request, principal, "hazard.confirm", f"hazard:{hazard_id}",
                {"name": row["name"], "area_deg2": round(_area(row), 1)},
            )  # fmt: skip
    return json_response(json_dumps(_feature(row)))


def _area(row: dict) -> float:
    from shapely.geometry import shape

    return shape(row["geometry"]).area


async def _at_risk(request: Request, db, hazard_id: int, horizon_h: float):
    row = await store.get_hazard(db, hazard_id)
    states = await store.vessel_states(
        db, max_age_s=VESSEL_MAX_AGE_S, exclude_prefixes=_beacons(request)
    )
    now = time.time()
    hazard = store.to_hazard(row)
    risk = await asyncio.to_thread(
        vessels_at_risk, hazard, Fleet(states, now), now, horizon_h=horizon_h
    )
    return row, hazard, risk, now


def _risk_item(r) -> dict:
    v = r.vessel
    return {
        "mmsi": r.mmsi,
        "name": v.name,
        "ship_type": v.ship_type,
        "inside": r.inside,
        "entry_time": _iso(r.entry_ts),
        "distance_nm": round(r.distance_nm, 2),
        "speed_kn": round(r.speed_kn, 1),
        "cog": v.cog,
        "lat": v.lat,
        "lon": v.lon,
        "last_seen": _iso(v.ts),
    }


CSV_FIELDS = (
    "mmsi",
    "name",
    "ship_type",
    "inside",
    "entry_time",
    "distance_nm",
    "speed_kn",
    "cog",
    "lat",
    "lon",
    "last_seen",
)


SAR_FIELDS = (
    "mmsi",
    "name",
    "ship_type",
    "length_m",
    "distance_nm",
    "speed_kn",
    "eta_h",
    "bearing_to",
    "at_rest",
    "stale",
    "age_min",
    "lat",
    "lon",
    "last_seen",
)


def _csv(items: list[dict], fields: tuple[str, ...], filename: str) -> Response:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fields, lineterminator="\n")
    w.writeheader()
    for it in items:
        w.writerow({k: "" if it[k] is None else it[k] for k in fields})
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/api/hazards/{hazard_id}/vessels",
    response_class=Response,
    summary="Vessels at risk: inside now, or entering within the horizon with the time of "
    "entry (JSON; format=csv)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def at_risk(
    request: Request,
    hazard_id: int = HAZARD_ID,
    horizon_h: float | None = Query(
        None, gt=0, le=72, description="how far ahead, hours (default: hazard_horizon_h)"
    ),
    format: str = Query("json", pattern="^(json|csv)$"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    if horizon_h is None:
        horizon_h = request.app.state.settings.hazard_horizon_h
    row, _, risk, now = await _at_risk(request, db, hazard_id, horizon_h)
    items = [_risk_item(r) for r in risk]
    if format == "csv":
        return _csv(items, CSV_FIELDS, f"hazard-{hazard_id}-vessels.csv")
    body = {
        "hazard": {k: row[k] for k in ("id", "name", "severity", "state", "onset", "expires")},
        "computed_at": _iso(now),
        "horizon_h": horizon_h,
        "count": len(items),
        "inside": sum(1 for it in items if it["inside"]),
        "vessels": items,
    }
    return json_response(json_dumps(body))


@router.get(
    "/api/hazards/{hazard_id}/cap",
    response_class=Response,
    summary="The hazard as an OASIS CAP 1.2 alert, with its vessels at risk",
    responses={200: {"content": {"application/cap+xml": {}}}},
)
async def as_cap(
    request: Request,
    hazard_id: int = HAZARD_ID,
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    row, hazard, risk, now = await _at_risk(
        request, db, hazard_id, request.app.state.settings.hazard_horizon_h
    )
    settings = request.app.state.settings
    sender = cap_sender(getattr(settings, "organisation", "") or "mda")  # as the feeds
    xml = to_cap(
        hazard,
        sender=sender,
        identifier=hazard_cap_identifier(hazard_id, row["updated_at"]),
        sent=now,
        at_risk=risk,
        status="Actual",
    )
    return Response(
        xml,
        media_type="application/cap+xml",
        headers={
            "Content-Disposition": f'inline; filename="hazard-{hazard_id}.cap.xml"',
            "Cache-Control": "no-store",
        },
    )


class HazardShareIn(BaseModel):
    partners: list[str] = Field(..., min_length=1, max_length=50)


def _hazard_share_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "time": row["time"].isoformat(),
        "partner": row["partner"],
        "hazard_id": row["hazard_id"],
        "mode": row["mode"],
        "actor": row["actor"],
        "sha256": row["sha256"],
    }


@router.post(
    "/api/hazards/{hazard_id}/share",
    response_class=Response,
    summary="Share a hazard and its vessels at risk with partners (officer or higher)",
)
async def share(
    body: HazardShareIn,
    request: Request,
    hazard_id: int = HAZARD_ID,
    principal: Principal = Depends(officer),
    db=Depends(db_conn),
) -> Response:
    try:
        rows = await store_shares.share_hazard(
            db,
            hazard_id,
            body.partners,
            actor=principal.name,
            role=principal.role,
            via=principal.via,
            ip=client_ip(request),
        )
    except store_partners.PartnerDisabled as e:
        raise WebError(409, "conflict", str(e)) from None
    return json_response(json_dumps({"shares": [_hazard_share_json(r) for r in rows]}))


@router.get(
    "/api/hazards/{hazard_id}/shares",
    response_class=Response,
    summary="With whom a hazard was shared, oldest first",
)
async def shares(
    hazard_id: int = HAZARD_ID, principal: Principal = Depends(viewer), db=Depends(db_conn)
) -> Response:
    await store.get_hazard(db, hazard_id)  # 404 for none
    rows = await store_shares.hazard_shares_of(db, hazard_id)
    body = {"hazard": hazard_id, "shares": [_hazard_share_json(r) for r in rows]}
    return json_response(json_dumps(body))


@router.get(
    "/api/sar/nearest",
    response_class=Response,
    summary="Vessels nearest a position by time to reach it (search and rescue)",
)
async def nearest(
    request: Request,
    lat: float = Query(..., ge=-90, le=90),
    lon: float = Query(..., ge=-180, le=180),
    limit: int | None = Query(None, ge=1, le=200, description="how many vessels (default 10)"),
    n: int | None = Query(None, ge=1, le=200, description="the same as limit (an alias)"),
    exclude: int | None = Query(None, ge=0, le=999_999_999, description="an MMSI to leave out"),
    format: str = Query(
        "json", pattern="^(json|csv|html)$", description="json, csv, or html: a printable page"
    ),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    states = await store.vessel_states(
        db, max_age_s=VESSEL_MAX_AGE_S, exclude_prefixes=_beacons(request)
    )
    count = limit or n or 10
    now = time.time()
    ranked = await asyncio.to_thread(
        nearest_responders,
        lat,
        lon,
        states,
        count,
        () if exclude is None else (exclude,),
        now,
    )
    items = [
        {
            "mmsi": r.mmsi,
            "name": r.vessel.name,
            "ship_type": r.vessel.ship_type,
            "length_m": r.vessel.length_m,
            "distance_nm": round(r.distance_nm, 2),
            "speed_kn": round(r.speed_kn, 1),
            "eta_h": round(r.eta_h, 3),
            "bearing_to": round(r.bearing_to, 1),
            "at_rest": r.at_rest,
            "stale": r.stale,
            "age_min": round(max(now - r.vessel.ts, 0.0) / 60.0, 1),
            "lat": r.vessel.lat,
            "lon": r.vessel.lon,
            "last_seen": _iso(r.vessel.ts),
        }
        for r in ranked
    ]
    if format == "csv":
        return _csv(items, SAR_FIELDS, f"sar-{lat:.4f}-{lon:.4f}.csv")
    if format == "html":
        return _sar_page(lat, lon, items, principal.name)
    return json_response(
        json_dumps({"lat": lat, "lon": lon, "count": len(items), "vessels": items})
    )


def _type_label(t: int | None) -> str:
    """The AIS ship type as a rescue centre reads it (ITU-R M.1371 table 53)."""
    if t is None:
        return "unknown"
    named = {
        30: "fishing",
        31: "towing",
        32: "towing",
        33: "dredging",
        34: "diving",
        35: "military",
        36: "sailing",
        37: "pleasure craft",
        50: "pilot",
        51: "SAR",
        52: "tug",
        53: "port tender",
        55: "law enforcement",
        58: "medical",
    }
    if t in named:
        return named[t]
    by_tens = {4: "high-speed craft", 6: "passenger", 7: "cargo", 8: "tanker", 2: "WIG"}
    return f"{by_tens.get(t // 10, 'other')} ({t})"


def _sar_page(lat: float, lon: float, items: list[dict], user: str) -> Response:
    """One printable page for the rescue coordination centre: the position, when and by
    whom it was made, and the vessels by time to reach it. Plain HTML, no script."""

    def e(v) -> str:
        return html.escape("" if v is None else str(v))

    def _reach(v: dict) -> str:
        reach = "at rest" if v["at_rest"] else f"{v['eta_h']:.2f} h"
        return reach + (f" (stale: {v['age_min']:.0f} min old)" if v["stale"] else "")

    def _length(v: dict) -> str:
        return "" if v["length_m"] is None else f"{v['length_m']:.0f}"

    def dm(value: float, pos: str, neg: str) -> str:
        d = abs(value)
        return f"{int(d):d}°{(d - int(d)) * 60:06.3f}′{pos if value >= 0 else neg}"

    rows = "".join(
        "<tr>"
        f"<td>{i}</td><td>{e(v['name'] or '')}</td><td>{v['mmsi']}</td>"
        f"<td>{e(_type_label(v['ship_type']))}</td>"
        f"<td>{_length(v)}</td>"
        f"<td>{v['distance_nm']:.1f}</td><td>{v['speed_kn']:.1f}</td>"
        f"<td>{_reach(v)}</td>"
        f"<td>{v['bearing_to']:.0f}°</td>"
        f"<td>{dm(v['lat'], 'N', 'S')} {dm(v['lon'], 'E', 'W')}</td>"
        f"<td>{e(v['last_seen'])}</td>"
        "</tr>"
        for i, v in enumerate(items, 1)
    )
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%MZ")
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>SAR assist · mda</title>"
        '<link rel="stylesheet" href="/static/handover.css"></head><body class="handover">'
        f"<h1>Search and rescue assist</h1>"
        f"<p>Position <strong>{dm(lat, 'N', 'S')} {dm(lon, 'E', 'W')}</strong> "
        f"({lat:.5f}, {lon:.5f}). Made {made} by {e(user)}. Vessels heard in the last 24 h, "
        "ranked by time to reach the position at their current speed (a typical speed for "
        "their type when slower); stopped or anchored vessels last; those not heard for "
        "30 min (stale: where they are now is a guess) after all the others.</p>"
        "<table><thead><tr><th>#</th><th>Name</th><th>MMSI</th><th>Type</th>"
        "<th>Length m</th><th>Distance nm</th><th>Speed kn</th><th>Time to reach</th><th>Bearing to</th>"
        "<th>Position</th><th>Last seen</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=11>No vessel heard in the last 24 h.</td></tr>'}"
        "</tbody></table></body></html>"
    )
    return Response(
        body, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"}
    )
