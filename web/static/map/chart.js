/* The chart beneath the vessels: the Leaflet map, the offline land (Natural Earth, served
 * by the app, and the GSHHG full shoreline from zoom 8 in the region: shore.js), an online tile layer only when tiles_url is configured, zones, lanes and
 * ports from /api/zones, the layer switcher and a scale bar in nautical miles. */

import { L } from "./leaflet.js";
import { api } from "./api.js";
import { themeColor } from "./dom.js";
import { esc } from "./format.js";
import { shoreLayer } from "./shore.js";

const DETAIL_FROM_ZOOM = 6;  // the 1:10m land from this zoom on, 1:50m below

/** The map in #map: {map, landReady, loadZones(), restyle(), addControls(vesselLayer)}. */
export function createChart(config) {
  const map = L.map("map", { center: [8, 72], zoom: 4, minZoom: 2, maxZoom: 16, worldCopyJump: true,
    zoomControl: true, attributionControl: true, preferCanvas: true });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("Land: Natural Earth");
  const land = offlineLand(map);
  const basemaps = { "Offline land (Natural Earth)": land.layer };
  if (config.tiles_url) {
    basemaps["Online tiles"] = L.tileLayer(config.tiles_url, { maxZoom: 18, attribution: "tiles: configured server" });
  }
  const zones = zoneLayers(map);
  return {
    map,
    landReady: land.ready,
    loadZones: zones.load,
    restyle() { land.restyle(); zones.restyle(); },  // after a theme change
    addControls(vesselLayer) { addControls(map, basemaps, zones, vesselLayer); }
  };
}

// Land polygons: the world at 1:50m, and the region at 1:10m (loaded on first need) from
// DETAIL_FROM_ZOOM, in their own pane under the zones; above them, from zoom 8, the fine
// shoreline (one basemap with them in the layer switcher).
function offlineLand(map) {
  const pane = map.createPane("land");
  pane.style.zIndex = 250; pane.style.pointerEvents = "none";
  const renderer = L.canvas({ padding: 0.3, pane: "land" });
  const shore = shoreLayer(map);
  const layer = L.layerGroup([shore.layer]).addTo(map);
  const loaded = { overview: null, detail: null };
  let loadingDetail = false;
  const style = () => ({ renderer, stroke: true, weight: 0.8, color: themeColor("--coast"),
    fillColor: themeColor("--land"), fillOpacity: 1, interactive: false });

  function load(which) {
    return fetch("/static/basemap/land-" + which + ".geojson").then((r) => r.json()).then((fc) => {
      loaded[which] = L.geoJSON(fc, { style, interactive: false });
      show();
    });
  }
  function show() {
    const detail = map.getZoom() >= DETAIL_FROM_ZOOM;
    if (detail && !loaded.detail && !loadingDetail) { loadingDetail = true; load("detail"); }
    const want = detail && loaded.detail ? loaded.detail : loaded.overview;
    [loaded.overview, loaded.detail].forEach((l) => {
      if (!l) return;
      if (l === want && !layer.hasLayer(l)) layer.addLayer(l);
      if (l !== want && layer.hasLayer(l)) layer.removeLayer(l);
    });
  }
  const ready = load("overview");
  map.on("zoomend", show);
  return {
    layer, ready,
    restyle() {
      [loaded.overview, loaded.detail].forEach((l) => { if (l) l.setStyle(style); });
      shore.restyle();
    }
  };
}

const ZONE_COLORS = { lane: "--lane", restricted: "--restricted", protected: "--protected", port: "--port",
  anchorage: "--port", coverage: "--muted" };

function zoneStyle(f) {
  const k = f.properties.kind;
  const c = themeColor(ZONE_COLORS[k] || "--zone");
  const s = { color: c, weight: 1.4, fillColor: c, fillOpacity: k === "lane" ? 0.10 : 0.06, opacity: 0.9 };
  if (k === "lane") s.dashArray = "6 4";
  if (k === "port" || k === "anchorage") { s.dashArray = "2 3"; s.weight = 1; }
  return s;
}

// Zones, lanes and ports, each a layer the officer can switch (ports start hidden).
function zoneLayers(map) {
  const zones = L.layerGroup().addTo(map), lanes = L.layerGroup().addTo(map), ports = L.layerGroup();
  function groupOf(kind) {
    if (kind === "lane") return lanes;
    return kind === "port" || kind === "anchorage" ? ports : zones;
  }
  function load() {
    return api("/api/zones").then((fc) => {
      [zones, lanes, ports].forEach((g) => g.clearLayers());
      L.geoJSON(fc, {
        style: zoneStyle,
        onEachFeature(f, layer) {
          const p = f.properties;
          const label = p.name + (p.direction != null ? " → " + Math.round(p.direction) + "°" : "");
          layer.bindTooltip(esc(label), { sticky: true, className: "vessel-tip" });
          groupOf(p.kind).addLayer(layer);
        }
      });
      return fc.features.length;
    }).catch((e) => { console.warn("zones:", e.message); return 0; });
  }
  function restyle() {
    [zones, lanes].forEach((g) => g.eachLayer((l) => { if (l.setStyle) l.setStyle(zoneStyle(l.feature)); }));
  }
  return { zones, lanes, ports, load, restyle };
}

// The layer switcher (basemaps, zones, lanes, ports, graticule) and the scale bar.
function addControls(map, basemaps, zones, vesselLayer) {
  const graticule = L.layerGroup();
  graticule.onAdd = function () { vesselLayer.showGraticule(true); return this; };
  graticule.onRemove = function () { vesselLayer.showGraticule(false); return this; };
  graticule.addTo(map);
  L.control.layers(basemaps, { "Zones": zones.zones, "Lanes (TSS, IRTC)": zones.lanes,
    "Ports and anchorages": zones.ports, "Graticule": graticule }, { position: "topright", collapsed: true }).addTo(map);
  new NmScale().addTo(map);
}

const SCALE_STEPS_NM = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

// A scale bar in nautical miles (cables below 1 NM), as on a chart.
const NmScale = L.Control.extend({
  options: { position: "bottomright", maxWidth: 120 },
  onAdd(m) {
    this._el = L.DomUtil.create("div", "nm-scale");
    m.on("zoomend moveend", this._update, this);
    this._update();
    return this._el;
  },
  _update() {
    const m = this._map, y = m.getSize().y / 2, w = this.options.maxWidth;
    const nmPerPx = m.distance(m.containerPointToLatLng([0, y]), m.containerPointToLatLng([w, y])) / 1852 / w;
    const maxNm = nmPerPx * w;
    let nm = SCALE_STEPS_NM[0];
    SCALE_STEPS_NM.forEach((s) => { if (s <= maxNm) nm = s; });
    this._el.style.width = Math.round(nm / nmPerPx) + "px";
    this._el.textContent = nm < 1 ? Math.round(nm * 10) + " cbl" : nm + " NM";
  }
});
