"""Every route of the app, one ``APIRouter`` per concern; ``create_app`` includes
``ROUTERS`` in this order. Routes are thin: they parse, check the role (``web.deps``), call
``store`` and answer; none holds SQL."""

from __future__ import annotations

from . import (
    alerts,
    extracts,
    hazards,
    imports,
    ingest,
    live,
    notes,
    operations,
    pages,
    partner,
    shares,
    suspensions,
    vessels,
    watchlists,
    zones,
)

__all__ = ["ROUTERS"]

ROUTERS = (
    pages.router,
    vessels.router,
    alerts.router,
    extracts.router,
    imports.router,
    shares.router,
    partner.router,
    zones.router,
    hazards.router,
    watchlists.router,
    suspensions.router,
    notes.router,
    operations.router,
    ingest.router,
    live.router,
)
