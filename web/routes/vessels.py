"""Vessels: the latest position of every vessel, one vessel's data and track, search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from mda.store import desk, queries

from ..auth import Principal
from ..deps import db_conn, viewer
from ..errors import WebError
from ..params import GEOJSON, MMSI, json_response, parse_bbox, parse_time

__all__ = ["router", "MAX_TRACK", "REPLAY_POINTS"]

router = APIRouter(tags=["vessels"])

MAX_TRACK = timedelta(days=31)
REPLAY_POINTS = 10_000  # a replay's buckets are sized so a period gives at most this many


@router.get(
    "/api/vessels",
    response_class=Response,
    summary="Latest position of every vessel (GeoJSON FeatureCollection)",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def vessels(
    request: Request,
    bbox: str | None = Query(
        None, description="minlon,minlat,maxlon,maxlat", examples=["40,-10,80,25"]
    ),
    since: str | None = Query(
        None, description="only vessels seen since (ISO 8601, epoch seconds or relative like -1h)"
    ),
    limit: int | None = Query(None, ge=1, le=200_000),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    box, t = parse_bbox(bbox), parse_time(since, "since")
    snapshot = request.app.state.vessels
    if snapshot.enabled:  # at most vessels_snapshot_s behind the table (web/snapshot.py)
        return json_response(await snapshot.body(db, bbox=box, since=t, limit=limit), GEOJSON)
    return json_response(await queries.vessels_geojson(db, bbox=box, since=t, limit=limit), GEOJSON)


@router.get(
    "/api/vessels/dimensions",
    response_class=Response,
    summary="Reported dimensions of the vessels in a box: {mmsi: [bow, stern, port, starboard]}",
)
async def dimensions(
    bbox: str = Query(..., description="minlon,minlat,maxlon,maxlat"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    return json_response(await desk.vessel_dims_json(db, parse_bbox(bbox)))


@router.get(
    "/api/vessels/{mmsi}",
    response_class=Response,
    summary="Static data and latest position of one vessel",
)
async def vessel(
    mmsi: int = MMSI, principal: Principal = Depends(viewer), db=Depends(db_conn)
) -> Response:
    text = await queries.vessel_detail(db, mmsi)
    if text is None:
        raise WebError(404, "not_found", f"no vessel {mmsi}")
    return json_response(text)


@router.get(
    "/api/vessels/{mmsi}/track",
    response_class=Response,
    summary="One vessel's track (GeoJSON LineString Feature with per-fix times, SOG, COG)",
    responses={200: {"content": {GEOJSON: {}}}},
)
async def track(
    mmsi: int = MMSI,
    start: str | None = Query(None, description="default: 24 h before end"),
    end: str | None = Query(None, description="default: the vessel's last fix"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    t_end = parse_time(end, "end")
    if t_end is None:
        t_end = await queries.vessel_last_fix(db, mmsi) or datetime.now(UTC)
    t_start = parse_time(start, "start") or t_end - timedelta(hours=24)
    if t_start > t_end:
        raise WebError(422, "invalid", "start is after end")
    if t_end - t_start > MAX_TRACK:
        raise WebError(422, "invalid", f"a track spans at most {MAX_TRACK.days} days")
    return json_response(await queries.vessel_track_geojson(db, mmsi, t_start, t_end), GEOJSON)


@router.get(
    "/api/search", response_class=Response, summary="Find vessels by MMSI, IMO, name or call sign"
)
async def search(
    q: str = Query(..., min_length=1, max_length=64),
    limit: int = Query(20, ge=1, le=100),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    return json_response(await queries.search_vessels(db, q, limit))


@router.get(
    "/api/vessels/{mmsi}/replay",
    response_class=Response,
    summary="One vessel's track for replay: the latest fix per time bucket, as arrays",
)
async def replay(
    mmsi: int = MMSI,
    start: str | None = Query(None, description="default: 24 h before end"),
    end: str | None = Query(None, description="default: the vessel's last fix"),
    bucket: int | None = Query(
        None, ge=1, le=86400, description="seconds; default: the period / 10,000, at least 10 s"
    ),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    t_end = parse_time(end, "end")
    if t_end is None:
        t_end = await queries.vessel_last_fix(db, mmsi) or datetime.now(UTC)
    t_start = parse_time(start, "start") or t_end - timedelta(hours=24)
    if t_start >= t_end:
        raise WebError(422, "invalid", "start is not before end")
    if t_end - t_start > MAX_TRACK:
        raise WebError(422, "invalid", f"a replay spans at most {MAX_TRACK.days} days")
    span = (t_end - t_start).total_seconds()
    b = bucket or max(10, int(-(-span // REPLAY_POINTS)))
    return json_response(await desk.replay_json(db, mmsi, t_start, t_end, b))


@router.get(
    "/api/positions/at",
    response_class=Response,
    summary="Every vessel's latest fix in a window before a time (the others during a replay)",
)
async def positions_at(
    t: str = Query(..., description="the time"),
    window: int = Query(900, ge=10, le=6 * 3600, description="seconds before t"),
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat"),
    principal: Principal = Depends(viewer),
    db=Depends(db_conn),
) -> Response:
    return json_response(
        await desk.positions_at_json(db, parse_time(t, "t"), window, parse_bbox(bbox))
    )
