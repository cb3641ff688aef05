"""Docs that cannot rot: every route of the web app is in web/README.md's route table, every
alert kind in the analytics' rule table and in the map's page config, every setting in
`mda config help` (tests/test_cli.py) and every analytics threshold in analytics/README.md
(tests/test_analytics_config.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute, APIWebSocketRoute

from mda.analytics import KIND_TABLE
from mda.settings import load_settings
from mda.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def _routes(app):
    for r in app.router.routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from inner.routes
        elif isinstance(r, (APIRoute, APIWebSocketRoute)):
            yield r


def test_every_route_is_in_the_web_readme(tmp_path):
    app = create_app(load_settings(environ={"MDA_DATA_DIR": str(tmp_path)}), "postgresql://x")
    table = [
        line
        for line in (ROOT / "web" / "README.md").read_text().splitlines()
        if line.startswith("| ")
    ]
    paths = sorted({r.path for r in _routes(app)})
    assert len(paths) > 15
    missing = [
        p
        for p in paths
        if not any(f"`{p}`" in line or f"`{p}?" in line or f"`{p}," in line for line in table)
    ]
    assert missing == []


def test_every_kind_has_a_label_a_severity_and_a_cise_type():
    for k in KIND_TABLE:
        assert k.label and k.severity in ("critical", "high", "medium", "low"), k
        assert k.cise in (
            "WithoutAISTransmission",
            "PerformingAISSpoofing",
            "VesselOutOfTrafficLanes",
            "Other",
        ), k
