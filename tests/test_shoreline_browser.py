"""The harbour-scale shoreline on the map in Chromium (off-loopback requests aborted): at
zoom 14 over Colombo's port the GSHHG full shoreline is drawn, the port's basin (land in
Natural Earth) shows as sea, the town as land. The screenshot is docs/img/basemap-harbour.png."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_web_browser import Page, _ready, browser, serve, stop  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"

# The colour the map shows at a point: the shoreline tile's pixel there, or "none" when no
# shoreline tile covers it; named "sea" or "land" by the nearer theme colour.
PIXEL_AT = """([lat, lon]) => {
  const map = window.mdaMap.map, pt = map.latLngToContainerPoint([lat, lon]);
  const box = map.getContainer().getBoundingClientRect();
  const x = box.left + pt.x, y = box.top + pt.y;
  const hex = (name) => {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16));
  };
  for (const c of document.querySelectorAll(".leaflet-shore-pane canvas")) {
    const r = c.getBoundingClientRect();
    if (x < r.left || x >= r.right || y < r.top || y >= r.bottom) continue;
    const k = c.width / r.width;
    const px = c.getContext("2d").getImageData(Math.floor((x - r.left) * k),
      Math.floor((y - r.top) * k), 1, 1).data;
    if (px[3] === 0) return "transparent";
    const d = (rgb) => rgb.reduce((s, v, i) => s + (v - px[i]) ** 2, 0);
    return d(hex("--sea")) < d(hex("--land")) ? "sea" : "land";
  }
  return "none";
}"""


def test_the_fine_shoreline_shows_a_harbour_at_zoom_14(db_url, tmp_path, browser):  # noqa: F811
    s = serve(db_url, tmp_path, 20)
    p = Page(browser)
    try:
        p.page.goto(f"{s.url}/?token={s.token}")
        _ready(p.page)
        before = p.page.evaluate("window.mdaShore.stats()")
        assert before["cellsFetched"] == 0  # nothing fetched at the overview zoom
        t0 = p.page.evaluate(
            "() => { const t = performance.now();"
            " window.mdaMap.map.setView([6.945, 79.852], 14, {animate: false}); return t; }"
        )
        p.page.wait_for_function(
            "(t0) => window.mdaShore.stats().loadedAt > t0", arg=t0, timeout=15000
        )
        st = p.page.evaluate("window.mdaShore.stats()")
        load_ms = st["loadedAt"] - t0
        print(
            f"shoreline at zoom 14: {load_ms:.0f} ms, {st['cellsFetched']} cells, "
            f"{st['bytes']} bytes, {st['tiles']} tiles, {st['ringsDrawn']} rings"
        )
        assert 1 <= st["cellsFetched"] <= 2  # only the visible 1-degree cells
        assert st["ringsDrawn"] > 0 and st["tiles"] >= 20
        assert load_ms < 3000
        # the basin of the port (land in Natural Earth 1:10m) is sea; the town is land
        assert p.page.evaluate(PIXEL_AT, [6.96, 79.85]) == "sea"
        assert p.page.evaluate(PIXEL_AT, [6.915, 79.875]) == "land"
        assert p.page.evaluate(PIXEL_AT, [6.95, 79.835]) == "sea"  # the open sea
        p.page.wait_for_timeout(200)
        shot = p.shot("basemap-harbour")
        if os.environ.get("MDA_DOCS_IMG") == "1":  # remade on request only
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, DOCS_IMG / "basemap-harbour.png")
        # zoom 9: the 5-degree band (simplified), across the cut at 20 N
        t1 = p.page.evaluate(
            "() => { const t = performance.now();"
            " window.mdaMap.map.setView([20, 72.9], 9, {animate: false}); return t; }"
        )
        p.page.wait_for_function(
            "(t1) => window.mdaShore.stats().loadedAt > t1", arg=t1, timeout=15000
        )
        assert p.page.evaluate("window.mdaShore.stats()")["cellsFetched"] >= st["cellsFetched"] + 2
        assert p.page.evaluate(PIXEL_AT, [19.12, 72.91]) == "land"  # Mumbai, Powai
        assert p.page.evaluate(PIXEL_AT, [19.5, 72.3]) == "sea"
        p.shot("basemap-zoom9")
        # outside the region (the Atlantic) the shoreline draws nothing: Natural Earth shows
        p.page.evaluate("() => { window.mdaMap.map.setView([0, -20], 9, {animate: false}); }")
        p.page.wait_for_timeout(300)
        assert p.page.evaluate(PIXEL_AT, [0, -20]) in ("none", "transparent")
        assert p.errors == [], p.errors
        assert p.offsite == [], p.offsite
    finally:
        p.close()
        stop(s)
