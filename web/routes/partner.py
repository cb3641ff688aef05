"""The partner API, ``/api/partner/``: a partner agency's token (role ``partner``,
``mda partner add``) lists and downloads only what was shared with it (the share log,
``store.shares``): the alerts, in the one wire format without the desk's internal fields,
and the extracts shared with them. Every other route refuses a partner's token (403,
``web.auth.authenticate``); these routes refuse every other token."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, Response

from mda.exchange import sharing
from mda.store import partners as store_partners
from mda.store import shares as store_shares
from mda.store.accounts import PARTNER
from mda.store.alerts import alert_message

from ..auth import Principal, audit_request, authenticate
from ..deps import db_conn
from ..errors import WebError
from ..params import ALERT_ID, json_response
from .hazards import HAZARD_ID

__all__ = ["router", "partner_principal", "INTERNAL_FIELDS"]

router = APIRouter(tags=["partner"])

# What the desk keeps for itself: the episode key, who handled it and what they wrote.
INTERNAL_FIELDS = (
    "key",
    "acknowledged_by",
    "acknowledged_at",
    "closed_by",
    "closed_at",
    "note",
    "outcome",
)


async def partner_principal(request: Request, db=Depends(db_conn)) -> Principal:
    """A partner's token, its partner enabled; 403 for any other principal."""
    principal = await authenticate(request, db, partner=True)
    if principal.role != PARTNER:
        raise WebError(403, "forbidden", "the partner API takes only a partner's token")
    try:
        partner = await store_partners.get_partner(db, principal.name)
    except store_partners.PartnerNotFound:
        raise WebError(403, "forbidden", f"{principal.name} is no partner") from None
    if partner["disabled"]:
        raise WebError(403, "forbidden", f"partner {principal.name} is disabled")
    request.state.principal = principal
    return principal


def _partner_alert(row: dict, share: dict) -> dict:
    out = alert_message(row).to_dict(zulu=True)
    for name in INTERNAL_FIELDS:
        out.pop(name, None)
    out["shared"] = {
        "share_id": share["share_id"],
        "time": share["shared_at"].isoformat(),
        "mode": share["mode"],
        "extract_sha256": share["extract_sha256"],
    }
    return out


async def _shared(db, partner: str, alert_id: int | None = None) -> list[dict]:
    shares = await store_shares.shared_alerts(db, partner)
    if alert_id is not None:
        shares = [s for s in shares if s["alert_id"] == alert_id]
    if not shares:
        return []
    rows = {r["id"]: r for r in await store_shares.alert_rows(db, [s["alert_id"] for s in shares])}
    return [_partner_alert(rows[s["alert_id"]], s) for s in shares if s["alert_id"] in rows]


@router.get(
    "/api/partner/alerts",
    response_class=Response,
    summary="The alerts shared with the calling partner, latest share first (partner token)",
)
async def partner_alerts(
    principal: Principal = Depends(partner_principal), db=Depends(db_conn)
) -> Response:
    alerts = await _shared(db, principal.name)
    body = {"partner": principal.name, "alerts": alerts, "count": len(alerts)}
    return json_response(json.dumps(body))


@router.get(
    "/api/partner/alerts/{alert_id}",
    response_class=Response,
    summary="One alert shared with the calling partner; 404 if it was not (partner token)",
)
async def partner_alert(
    alert_id: int = ALERT_ID,
    principal: Principal = Depends(partner_principal),
    db=Depends(db_conn),
) -> Response:
    alerts = await _shared(db, principal.name, alert_id)
    if not alerts:
        raise WebError(404, "not_found", f"alert {alert_id} was not shared with you")
    return json_response(json.dumps(alerts[0]))


@router.get(
    "/api/partner/alerts/{alert_id}/extract",
    response_class=Response,
    summary="The extract shared with an alert, as it was shared (partner token)",
    responses={200: {"content": {"application/zip": {}}}},
)
async def partner_extract(
    request: Request,
    alert_id: int = ALERT_ID,
    principal: Principal = Depends(partner_principal),
    db=Depends(db_conn),
) -> Response:
    shared = await store_shares.shared_extract(db, principal.name, alert_id)
    if shared is None:
        raise WebError(404, "not_found", f"no extract of alert {alert_id} was shared with you")
    keep = sharing.keep_dir_of(request.app.state.settings.data_path)
    path = sharing.kept_extract(keep, shared["extract_sha256"])
    if not path.is_file():
        raise WebError(
            404,
            "not_found",
            f"extract {shared['extract_id']} was recorded but not kept here; ask the sender",
        )
    await audit_request(
        db,
        request,
        principal,
        "partner.extract",
        target=f"alert:{alert_id}",
        details={"extract_id": shared["extract_id"], "sha256": shared["extract_sha256"]},
    )
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"alert-{alert_id}-extract.zip",
        headers={"Cache-Control": "no-store", "X-Extract-SHA256": shared["extract_sha256"]},
    )


# ------------------------------------------------------------------------------ hazards
# Hazard areas shared with the partner (issue 14, item 3): each with its vessels at risk
# computed now, as the desk sees them.


async def _shared_hazards(
    request: Request, db, partner: str, hazard_id: int | None = None
) -> list[dict]:
    import asyncio
    import time

    from mda.analytics.hazards import Fleet, vessels_at_risk
    from mda.store import hazards as store_hazards

    from .hazards import VESSEL_MAX_AGE_S, _beacons, _feature, _iso, _risk_item

    shares = await store_shares.shared_hazards(db, partner)
    if hazard_id is not None:
        shares = [s for s in shares if s["hazard_id"] == hazard_id]
    rows = []
    for s in shares:
        try:
            rows.append((s, await store_hazards.get_hazard(db, s["hazard_id"])))
        except store_hazards.HazardNotFound:  # withdrawn since: nothing to show
            continue
    if not rows:
        return []
    states = await store_hazards.vessel_states(
        db, max_age_s=VESSEL_MAX_AGE_S, exclude_prefixes=_beacons(request)
    )
    now = time.time()
    fleet = Fleet(states, now)
    horizon = request.app.state.settings.hazard_horizon_h
    out = []
    for s, row in rows:
        risk = await asyncio.to_thread(
            vessels_at_risk, store_hazards.to_hazard(row), fleet, now, horizon_h=horizon
        )
        feature = _feature(row)
        props = {
            k: feature["properties"][k]
            for k in ("id", "name", "severity", "onset", "expires", "state", "source")
        }
        for k in ("onset", "expires"):
            props[k] = props[k].isoformat() if props[k] is not None else None
        props["shared"] = {
            "share_id": s["share_id"],
            "time": s["shared_at"].isoformat(),
            "mode": s["mode"],
        }
        props["vessels_at_risk"] = [_risk_item(r) for r in risk]
        props["vessels_at_risk_at"] = _iso(now)
        props["horizon_h"] = horizon
        out.append(
            {"type": "Feature", "id": row["id"], "geometry": row["geometry"], "properties": props}
        )
    return out


@router.get(
    "/api/partner/hazards",
    response_class=Response,
    summary="The hazard areas shared with the calling partner, with their vessels at risk "
    "now, latest share first (partner token)",
)
async def partner_hazards(
    request: Request,
    principal: Principal = Depends(partner_principal),
    db=Depends(db_conn),
) -> Response:
    features = await _shared_hazards(request, db, principal.name)
    body = {
        "type": "FeatureCollection",
        "partner": principal.name,
        "count": len(features),
        "features": features,
    }
    return json_response(json.dumps(body))


@router.get(
    "/api/partner/hazards/{hazard_id}",
    response_class=Response,
    summary="One hazard shared with the calling partner; 404 if it was not (partner token)",
)
async def partner_hazard(
    request: Request,
    hazard_id: int = HAZARD_ID,
    principal: Principal = Depends(partner_principal),
    db=Depends(db_conn),
) -> Response:
    features = await _shared_hazards(request, db, principal.name, hazard_id)
    if not features:
        raise WebError(404, "not_found", f"hazard {hazard_id} was not shared with you")
    return json_response(json.dumps(features[0]))
