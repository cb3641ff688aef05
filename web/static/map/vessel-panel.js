/* The vessel panel (ux.md): identity, voyage, the vessel's active alerts, and its track
 * with depth presets; fixes more than 30 min apart are joined by a dashed line (a gap). */

import { L } from "./leaflet.js";
import { api } from "./api.js";
import { inHistory, isNotice } from "./alerts.js";
import { byId, themeColor } from "./dom.js";
import { ago, esc, latlonText, localTitle, num, utc } from "./format.js";
import { flagOf, navStatusText, shipTypeText } from "./ships.js";
import { eventNow, store } from "./store.js";

const TRACK_PRESETS_H = [6, 12, 24, 72, 168];
const GAP_S = 1800;

/** Returns {select(mmsi, opts), showAlertCount()}. select's opts: fly (default true) to
 *  fly there; track {start, end, highlight: [startMs, endMs, colour], fit} for an
 *  alert's evidence instead of the preset hours. */
export function mountVesselPanel({ map, layer }) {
  const panel = byId("vessel-panel");
  const trackLayer = L.layerGroup().addTo(map);
  let trackHours = 24;

  function select(mmsi, opts = {}) {
    store.selected = mmsi;
    const v = store.vessels.get(mmsi);
    if (opts.fly !== false && v && v.lat != null) map.flyTo([v.lat, v.lon], Math.max(map.getZoom(), 9), { duration: 0.8 });
    layer.redraw();
    panel.hidden = false;
    byId("vp-title").textContent = (v && v.name) || ("MMSI " + mmsi);
    byId("vp-body").innerHTML = '<p class="empty">Loading…</p>';
    return api("/api/vessels/" + mmsi).then((d) => {
      render(d);
      return showTrack(mmsi, opts.track || { hours: trackHours });
    }).catch((e) => {
      byId("vp-body").innerHTML = '<p class="empty">' + esc(e.message) + "</p>";
    });
  }

  function render(d) {
    byId("vp-title").textContent = d.name || ("MMSI " + d.mmsi);
    byId("vp-body").innerHTML = identityHtml(d) + voyageHtml(d, d.position || {}) + '<div id="vp-alerts"></div>' +
      trackPresetsHtml(trackHours);
    showAlertCount();
    byId("track-presets").addEventListener("click", function (e) {
      const h = e.target.getAttribute("data-h");
      if (!h) return;
      trackHours = Number(h);
      this.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b === e.target));
      showTrack(d.mmsi, { hours: trackHours });
    });
  }

  // The selected vessel's active alerts, kept current as alerts change.
  function showAlertCount() {
    const box = byId("vp-alerts");
    if (!box || store.selected == null) return;
    let n = 0;
    store.alerts.forEach((a) => {
      if (!inHistory(a) && !isNotice(a) && (a.mmsi === store.selected || a.other_mmsi === store.selected)) n++;
    });
    box.innerHTML = n ? '<h4>Alerts</h4><p><span class="badge alarm">' + n + " active</span></p>" : "";
  }

  function showTrack(mmsi, opts) {
    return api("/api/vessels/" + mmsi + "/track" + trackQuery(mmsi, opts)).then((f) => {
      trackLayer.clearLayers();
      const info = byId("track-info");
      if (!f.geometry) { if (info) info.textContent = "No track in this period."; return f; }
      const evidence = drawTrack(trackLayer, f, opts.highlight);
      if (opts.fit) frame(evidence.length > 1 ? evidence : f.geometry.coordinates.map(([lon, lat]) => [lat, lon]));
      const times = f.properties.times;
      if (info) info.textContent = f.properties.points + " fixes · " + utc(times[0] * 1000) + " → " + utc(times[times.length - 1] * 1000);
      return f;
    });
  }

  // Fly to the evidence (or the whole track), clear of the vessel panel on the right.
  function frame(latlngs) {
    const b = L.latLngBounds(latlngs);
    if (b.isValid()) map.flyToBounds(b, { paddingTopLeft: [80, 80], maxZoom: 12, duration: 0.8,
      paddingBottomRight: [panel.hidden ? 80 : panel.offsetWidth + 60, 80] });
  }

  byId("vp-close").addEventListener("click", () => {
    panel.hidden = true; store.selected = null; trackLayer.clearLayers(); layer.redraw();
  });
  return { select, showAlertCount };
}

function identityHtml(d) {
  const flag = flagOf(d.mmsi);
  const size = d.length ? d.length + " × " + (d.beam || "?") + " m" : "—";
  return "<h4>Identity</h4><dl>" +
    "<dt>MMSI</dt><dd class=mono>" + d.mmsi + (flag ? ' <span class="badge">' + flag + "</span>" : "") + "</dd>" +
    "<dt>IMO</dt><dd class=mono>" + esc(d.imo || "—") + "</dd>" +
    "<dt>Call sign</dt><dd class=mono>" + esc(d.callsign || "—") + "</dd>" +
    "<dt>Type</dt><dd>" + esc(shipTypeText(d.ship_type)) + "</dd>" +
    "<dt>Size</dt><dd>" + size + "</dd>" +
    "<dt>Draught</dt><dd>" + num(d.draught, 1, " m") + "</dd></dl>";
}

// The voyage: static data (d: destination, ETA) and the latest position report (p).
function voyageHtml(d, p) {
  return "<h4>Voyage</h4><dl>" +
    "<dt>Status</dt><dd>" + esc(p.nav_status != null ? navStatusText(p.nav_status) : "—") + "</dd>" +
    "<dt>SOG / COG</dt><dd class=num>" + num(p.sog, 1, " kn") + " / " + num(p.cog, 1, "°") + "</dd>" +
    "<dt>Heading</dt><dd class=num>" + (p.heading != null ? p.heading + "°" : "—") + "</dd>" +
    "<dt>Destination</dt><dd>" + esc(d.destination || "—") + (d.eta ? " · ETA " + esc(d.eta) : "") + "</dd>" +
    "<dt>Position</dt><dd class=num>" + (p.lat != null ? latlonText(p.lat, p.lon) : "—") + "</dd>" +
    '<dt>Last seen</dt><dd class=num id="vp-last-seen" title="' + esc(localTitle(p.time)) + '">' +
      (p.time ? utc(p.time) + " · " + ago(eventNow() - Date.parse(p.time)) : "—") + "</dd>" +
    "<dt>Source</dt><dd>" + esc(p.source || "—") + "</dd></dl>";
}

function trackPresetsHtml(current) {
  return '<h4>Track</h4><div class="presets" id="track-presets">' +
    TRACK_PRESETS_H.map((h) => '<button type="button" data-h="' + h + '"' + (h === current ? ' class="active"' : "") + ">" +
      (h < 48 ? h + " h" : h / 24 + " d") + "</button>").join("") +
    '</div><p id="track-info" class="num"></p>';
}

// The track's query: an explicit period, or the hours before the vessel's last fix (which
// may lie ahead of the wall clock on a replay), or before now for a vessel not on the map.
function trackQuery(mmsi, opts) {
  if (opts.start) return "?start=" + encodeURIComponent(opts.start) + "&end=" + encodeURIComponent(opts.end);
  const span = opts.hours * 3600e3, last = (store.vessels.get(mmsi) || {}).ts;
  return "?start=" + encodeURIComponent(new Date(last - span || Date.now() - span).toISOString());
}

// The track on its layer: solid runs, dashed gaps, the start as a dot, and the fixes within
// highlight ([startMs, endMs, colour]: an alert's evidence) drawn thick. Returns those fixes.
function drawTrack(trackLayer, f, highlight) {
  const coords = f.geometry.coordinates, times = f.properties.times;
  const color = themeColor("--track");
  const solid = [], dashed = [], evidence = [];
  let run = [];
  for (let i = 0; i < coords.length; i++) {
    const ll = [coords[i][1], coords[i][0]];
    if (i > 0 && times[i] - times[i - 1] > GAP_S) { dashed.push([run[run.length - 1], ll]); solid.push(run); run = []; }
    run.push(ll);
    if (highlight && times[i] * 1000 >= highlight[0] && times[i] * 1000 <= highlight[1]) evidence.push(ll);
  }
  solid.push(run);
  L.polyline(solid, { color, weight: 1.6, opacity: 0.85, interactive: false }).addTo(trackLayer);
  if (dashed.length) L.polyline(dashed, { color, weight: 1.2, dashArray: "4 5", opacity: 0.7, interactive: false }).addTo(trackLayer);
  if (evidence.length > 1) {
    L.polyline(evidence, { color: highlight[2] || "#ff3b3b", weight: 3.5, opacity: 0.95, interactive: false }).addTo(trackLayer);
  }
  L.circleMarker([coords[0][1], coords[0][0]], { radius: 3, color, weight: 1, fillOpacity: 1, interactive: false }).addTo(trackLayer);
  return evidence;
}
